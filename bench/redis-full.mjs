#!/usr/bin/env node
// `npm run bench:redis-full [-- --maxmemory 8mb --clients 16 --seconds 60]`: write-behind on a Redis with a
// small `maxmemory`, once per policy (`allkeys-lru`, then `noeviction`). 16 clients create users through an
// instance that does not flush (`WRITE_BEHIND_ROLE=api`) until each has been refused 10 times in a row (Redis
// is full) or the time is up; then an instance that flushes joins.
// It reports what was acknowledged, what was refused and how, how many acknowledged users are missing from
// Postgres, how long the drain took, when writes were accepted again, and Redis's memory and evictions. Each
// policy gets its own redis-server on a free port and its own schema; the shared servers are never touched.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.mjs';
import { RedisServer } from '../scripts/lib/redis-server.mjs';
import { build, builtApp, DATABASE_URL, isolatedEnv, ServerProcess } from '../scripts/lib/server-process.mjs';

const { values: args } = parseArgs({
  options: {
    maxmemory: { type: 'string', default: '8mb' },
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '60' },
    policies: { type: 'string', default: 'allkeys-lru,noeviction' },
    'no-build': { type: 'boolean', default: false },
  },
});
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function startRedis(policy) {
  const server = await RedisServer.start();
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  await client.config('SET', 'maxmemory', args.maxmemory);
  await client.config('SET', 'maxmemory-policy', policy);
  return { port: server.port, client, stop: () => (client.disconnect(), server.stop()) };
}

async function info(client) {
  const text = `${await client.info('memory')}\n${await client.info('stats')}`;
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { used: field('used_memory'), max: field('maxmemory'), evicted: field('evicted_keys') };
}

function app(redisPort, schema, role) {
  return freePort().then(
    (port) =>
      new ServerProcess(builtApp('write-behind'), {
        port,
        env: isolatedEnv(schema, redisPort, { WRITE_BEHIND_ROLE: role, LOG_LEVEL: 'warn' }),
      }),
  );
}

async function post(url, n) {
  try {
    const response = await fetch(`${url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(100), email: `full-${process.pid}-${n}@example.test`, age: 30 }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  } catch {
    return { status: 'no answer', body: null };
  }
}

async function run(policy) {
  const redis = await startRedis(policy);
  const schema = `bench_full_${policy.replace(/-/g, '_')}_${process.pid}`;
  const servers = [];
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const api = await app(redis.port, schema, 'api');
    servers.push(api);
    await api.waitFor('/health', { ready: (status) => status === 200 || status === 503 });
    const accepted = [];
    const statuses = new Map();
    const outcomes = new Map();
    let n = 0;
    const deadline = Date.now() + Number(args.seconds) * 1000;
    await Promise.all(
      Array.from({ length: Number(args.clients) }, async () => {
        for (let refusedInARow = 0; refusedInARow < 10 && Date.now() < deadline;) {
          const answer = await post(api.url, (n += 1));
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          refusedInARow = answer.status === 201 ? 0 : refusedInARow + 1;
          if (answer.status === 201) accepted.push(answer.body.id);
          else if (answer.status === 503) {
            outcomes.set(answer.body?.outcome, (outcomes.get(answer.body?.outcome) ?? 0) + 1);
            await sleep(50);
          }
        }
      }),
    );
    const full = await info(redis.client);
    const apiHealth = await fetch(`${api.url}/health`).then((response) => response.status);
    const flushStarted = Date.now();
    const flusher = await app(redis.port, schema, 'all');
    servers.push(flusher);
    await flusher.waitFor('/health', { ready: (status) => status === 200 || status === 503, timeoutMs: 60_000 });
    let inPostgres = 0;
    let drainedMs = null;
    while (Date.now() - flushStarted < 120_000) {
      inPostgres =
        accepted.length === 0
          ? 0
          : Number(
              (await db.query(`SELECT count(*) FROM "${schema}".users WHERE id = ANY($1)`, [accepted])).rows[0].count,
            );
      if (inPostgres === accepted.length) {
        drainedMs = Date.now() - flushStarted;
        break;
      }
      await sleep(250);
    }
    let acceptingAgainMs = null;
    while (policy === 'noeviction' && Date.now() - flushStarted < 180_000) {
      if ((await post(api.url, (n += 1))).status === 201) {
        acceptingAgainMs = Date.now() - flushStarted;
        break;
      }
      await sleep(500);
    }
    const after = await info(redis.client);
    const stats = await fetch(`${api.url}/stats`).then((response) => response.json());
    const status = (code) => statuses.get(code) ?? 0;
    console.log(
      [
        `write-behind, Redis maxmemory ${args.maxmemory}, ${policy}, ${args.clients} clients creating users until refused (flusher off)`,
        `  answers: ${[...statuses].map(([code, count]) => `${code}: ${count}`).join(', ')}; 503 outcomes: ${[...outcomes].map(([outcome, count]) => `${outcome}: ${count}`).join(', ') || 'none'}`,
        `  500s: ${status(500)}; /health of the writing instance when full: ${apiHealth}`,
        `  Redis when full: ${(full.used / 1e6).toFixed(2)} of ${(full.max / 1e6).toFixed(2)} MB, evicted_keys ${full.evicted}`,
        `  acknowledged: ${accepted.length}; in Postgres after the flusher joined: ${inPostgres}; missing: ${accepted.length - inPostgres}` +
          (drainedMs === null ? ' (not drained within 120 s)' : `, all in ${(drainedMs / 1000).toFixed(1)} s`),
        ...(policy === 'noeviction'
          ? [
              `  writes accepted again ${acceptingAgainMs === null ? 'NOT within 180 s' : `${(acceptingAgainMs / 1000).toFixed(1)} s after the flusher started`}`,
            ]
          : []),
        `  Redis at the end: ${(after.used / 1e6).toFixed(2)} MB, evicted_keys ${after.evicted}; /stats: pendingWrites ${stats.pendingWrites}, missingChanges ${stats.missingChanges}, refusingWrites ${stats.refusingWrites}`,
      ].join('\n'),
    );
    return (
      status(500) === 0 && accepted.length === inPostgres && (policy !== 'noeviction' || acceptingAgainMs !== null)
    );
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.end();
    await redis.stop();
  }
}

if (!args['no-build']) build();
let ok = true;
for (const policy of args.policies.split(',')) ok = (await run(policy)) && ok;
process.exit(ok ? 0 : 1);
