#!/usr/bin/env node
// `npm run bench:replica [-- --app cache-aside --seconds 20 --clients 16 --lag --no-build]`: miss-heavy reads with a
// Postgres read replica behind the cache. A private primary + streaming replica pair (scripts/lib/postgres-replica.mjs,
// temp folder, free ports) and one instance of the built app on its own redis-server, with DATABASE_REPLICA_URLS;
// 10,000 users seeded, nothing cached (a cold start), then `clients` clients send 95 % reads (uniform ids, so most
// are misses while the cache fills; a 1 s TTL keeps them coming) and 5 % PATCH writes for `--seconds`. With
// `--lag`, the replica's replay is paused for the middle third of the run. It reports where the loads after a miss
// were answered (the app's /stats), the replica rows refused as older than a write, each server's transactions
// (`pg_stat_database.xact_commit` of the database, before and after), and reads that answered a version older
// than a write acknowledged before they started (must be 0).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.mjs';
import { ReplicaPair } from '../scripts/lib/postgres-replica.mjs';
import { RedisServer } from '../scripts/lib/redis-server.mjs';
import { build, builtApp, healthy, isolatedEnv, ServerProcess } from '../scripts/lib/server-process.mjs';
import { percentile } from './lib/load.mjs';
import { seedUsers } from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    app: { type: 'string', default: 'cache-aside' },
    seconds: { type: 'string', default: '20' },
    clients: { type: 'string', default: '16' },
    lag: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
});
const DATABASE = 'caching_patterns';
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function commits(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT xact_commit::int8 AS n FROM pg_stat_database WHERE datname = $1', [
      DATABASE,
    ]);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

async function send(url, method, id, body) {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/users/${id}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    const etag = response.headers.get('etag');
    const version = /^"\d+"$/.test(etag ?? '') ? Number(etag.slice(1, -1)) : null;
    return { id, method, status: response.status, version, started, ended: performance.now() };
  } catch {
    return { id, method, status: 0, version: null, started, ended: performance.now() };
  }
}

if (!args['no-build']) build();
const pair = new ReplicaPair(mkdtempSync(join(tmpdir(), 'bench-replica-')), await freePort(), await freePort());
const redis = await RedisServer.start();
let server;
try {
  await pair.up();
  const schema = `bench_replica_${process.pid}`;
  server = new ServerProcess(builtApp(args.app), {
    port: await freePort(),
    env: isolatedEnv(schema, redis.port, {
      LOG_LEVEL: 'error',
      DATABASE_URL: pair.url(DATABASE),
      DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
      DATABASE_REPLICA_MAX_LAG_MS: '50000',
      CACHE_TTL_SECONDS: '1',
      CACHE_GRACE_SECONDS: '0',
      REFRESH_INTERVAL_MS: '0',
    }),
  });
  await server.waitFor('/health', { ready: healthy });
  const ids = await seedUsers(pair.url(DATABASE), schema);
  // The replica has the seeded users before the clock starts.
  const replica = new pg.Client({ connectionString: pair.url(DATABASE, 'replica') });
  await replica.connect();
  for (;;) {
    const { rows } = await replica
      .query(`SELECT count(*)::int AS n FROM "${schema}".users`)
      .catch(() => ({ rows: [] }));
    if ((rows[0]?.n ?? 0) >= ids.length) break;
    await sleep(100);
  }
  const before = {
    primary: await commits(pair.url('postgres')),
    replica: await commits(pair.url('postgres', 'replica')),
  };
  const seconds = Number(args.seconds);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const lag = args.lag
    ? (async () => {
        await sleep((seconds * 1000) / 3);
        await replica.query('SELECT pg_wal_replay_pause()');
        await sleep((seconds * 1000) / 3);
        await replica.query('SELECT pg_wal_replay_resume()');
      })()
    : Promise.resolve();
  const answers = [];
  const acknowledged = new Map();
  await Promise.all(
    Array.from({ length: Number(args.clients) }, async () => {
      while (performance.now() < deadline) {
        const id = ids[Math.floor(Math.random() * ids.length)];
        const write = Math.random() < 0.05;
        const answer = await send(server.url, write ? 'PATCH' : 'GET', id, write ? { age: 30 } : undefined);
        answers.push(answer);
        if (write && answer.status === 200) {
          const known = acknowledged.get(id) ?? [];
          known.push(answer);
          acknowledged.set(id, known);
        }
      }
    }),
  );
  await lag;
  await replica.end();
  const after = {
    primary: await commits(pair.url('postgres')),
    replica: await commits(pair.url('postgres', 'replica')),
  };
  const stats = await (await fetch(`${server.url}/stats`)).json();
  const reads = answers.filter((answer) => answer.method === 'GET');
  const older = reads.filter(
    (read) =>
      read.status === 200 &&
      (acknowledged.get(read.id) ?? []).some((write) => write.ended < read.started && write.version > read.version),
  ).length;
  const { fromReplica, fromPrimary, refusedReplicaRows } = stats.replicas;
  const loads = fromReplica + fromPrimary;
  const latencies = reads.map((read) => read.ended - read.started);
  const table = [
    `bench:replica: ${args.app}, 1 instance, ${args.clients} clients, ${seconds} s, 95 % reads over ${ids.length} users (uniform), TTL 1 s${args.lag ? ', replica replay paused for the middle third' : ''}`,
    '',
    '| reads | writes acknowledged | loads after a miss | from the replica | from the primary | replica rows refused | primary commits | replica commits | read p50 / p99 ms | older than an acknowledged write |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${reads.length} | ${[...acknowledged.values()].flat().length} | ${loads} | ${fromReplica} (${((100 * fromReplica) / Math.max(1, loads)).toFixed(1)} %) | ${fromPrimary} | ${refusedReplicaRows} | ${after.primary - before.primary} | ${after.replica - before.replica} | ${(percentile(latencies, 0.5) ?? 0).toFixed(1)} / ${(percentile(latencies, 0.99) ?? 0).toFixed(1)} | ${older} |`,
  ].join('\n');
  console.log(table);
  // The last run of each kind is kept beside the full bench's results, for the docs to quote.
  const file = join(RESULTS, `replica${args.lag ? '-lag' : ''}.md`);
  const command = `npm run bench:replica${args.lag ? ' -- --lag' : ''}`;
  writeFileSync(file, `# \`${command}\`, ${new Date().toISOString().slice(0, 10)}\n\n${table}\n`);
  console.log(`written to ${file}`);
  process.exitCode = older === 0 ? 0 : 1;
} finally {
  await server?.stop();
  await redis.remove();
  pair.remove();
}
