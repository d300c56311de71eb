#!/usr/bin/env node
// `npm run bench:outage [-- --app cache-aside --instances 1 --outage 60 --slow 20 --clients 16 --no-build]`:
// reads while Postgres is away or slow, with grace copies (CACHE_GRACE_SECONDS) on. Each instance of the built
// app reaches Postgres through a TCP proxy of its own and Redis on a private redis-server; 10,000 users are
// seeded and every one is read once, then some are written, and the TTL (5 s) runs out, so that every entry is a
// grace copy when the faults begin:
// 1. Postgres cut (connections reset, new ones refused) for `--outage` seconds under Zipf reads;
// 2. Postgres answering every packet 500 ms late each way for `--slow` seconds;
// 3. Postgres back: how long until the loads are fast again.
// It reports, per phase: reads, how many answered 200 and how (Cache-Status), 503s, p50/p99 latency, and reads
// that answered a version older than one acknowledged before they started (must be 0).
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.mjs';
import { RedisServer } from '../scripts/lib/redis-server.mjs';
import { build, builtApp, DATABASE_URL, healthy, isolatedEnv, ServerProcess } from '../scripts/lib/server-process.mjs';
import { proxyInFront } from '../scripts/lib/tcp-proxy.mjs';
import { percentile, zipfSampler, ZIPF_S } from './lib/load.mjs';
import { seedUsers } from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    app: { type: 'string', default: 'cache-aside' },
    instances: { type: 'string', default: '1' },
    outage: { type: 'string', default: '60' },
    slow: { type: 'string', default: '20' },
    clients: { type: 'string', default: '16' },
    'no-build': { type: 'boolean', default: false },
  },
});
const SLOW_MS = 500;
const TTL_SECONDS = 5;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function get(url, id) {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/users/${id}`, { signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    const etag = response.headers.get('etag');
    return {
      id,
      status: response.status,
      cacheStatus: response.headers.get('cache-status') ?? '',
      version: /^"\d+"$/.test(etag ?? '') ? Number(etag.slice(1, -1)) : null,
      started,
      ms: performance.now() - started,
    };
  } catch {
    return { id, status: 0, cacheStatus: '', version: null, started, ms: performance.now() - started };
  }
}

/** `clients` readers of Zipf-picked ids over every instance for `seconds`; each answer, with its timing. */
async function readFor(urls, ids, seconds, clients) {
  const pick = zipfSampler(ids.length, ZIPF_S);
  const deadline = performance.now() + seconds * 1000;
  const reads = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < deadline) reads.push(await get(urls[client % urls.length], ids[pick()]));
    }),
  );
  return reads;
}

function summary(label, reads, acknowledged) {
  const ok = reads.filter((read) => read.status === 200);
  const how = (pattern) => ok.filter((read) => pattern.test(read.cacheStatus)).length;
  const latencies = reads.map((read) => read.ms);
  const older = ok.filter((read) => {
    const write = acknowledged.get(read.id);
    return write !== undefined && write.ended < read.started && read.version !== null && read.version < write.version;
  }).length;
  const share = reads.length === 0 ? 0 : (100 * ok.length) / reads.length;
  return (
    `| ${label} | ${reads.length} | ${share.toFixed(2)} % | ${how(/; hit(;|$)(?!.*fwd=stale)/)} | ` +
    `${how(/detail=stale-if-error/)} | ${how(/detail=soft-timeout/)} | ${how(/fwd=miss/)} | ` +
    `${reads.filter((read) => read.status === 503).length} | ${(percentile(latencies, 0.5) ?? 0).toFixed(1)} | ` +
    `${(percentile(latencies, 0.99) ?? 0).toFixed(1)} | ${older} |`
  );
}

if (!args['no-build']) build();
const instances = Number(args.instances);
const clients = Number(args.clients);
const schema = `bench_outage_${process.pid}`;
const redis = await RedisServer.start();
const proxies = [];
const servers = [];
for (let index = 0; index < instances; index += 1) {
  const { proxy, url: databaseUrl } = await proxyInFront(DATABASE_URL, 5432);
  proxies.push(proxy);
  servers.push(
    new ServerProcess(builtApp(args.app), {
      port: await freePort(),
      env: isolatedEnv(schema, redis.port, {
        LOG_LEVEL: 'error',
        DATABASE_URL: databaseUrl,
        CACHE_TTL_SECONDS: String(TTL_SECONDS),
        CACHE_TTL_JITTER: '0',
        CACHE_GRACE_SECONDS: '3600',
        REFRESH_INTERVAL_MS: '0',
      }),
    }),
  );
}
try {
  await Promise.all(servers.map((server) => server.waitFor('/health', { ready: healthy })));
  const urls = servers.map((server) => server.url);
  const ids = await seedUsers(DATABASE_URL, schema);
  // Every user read once (cached), then every 100th written through the app (acknowledged: 200).
  for (let start = 0; start < ids.length; start += 100) {
    await Promise.all(ids.slice(start, start + 100).map((id, index) => get(urls[index % urls.length], id)));
  }
  const acknowledged = new Map();
  for (const id of ids.filter((_, index) => index % 100 === 0)) {
    const response = await fetch(`${urls[0]}/users/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ age: 99 }),
    });
    const version = Number((response.headers.get('etag') ?? '"0"').slice(1, -1));
    if (response.status === 200) acknowledged.set(id, { version, ended: performance.now() });
    await get(urls[1 % urls.length], id);
  }
  await sleep(TTL_SECONDS * 1000 + 500);

  const rows = [];
  if (Number(args.outage) > 0) for (const proxy of proxies) proxy.disconnect();
  rows.push(
    summary(`Postgres down, ${args.outage} s`, await readFor(urls, ids, Number(args.outage), clients), acknowledged),
  );
  for (const proxy of proxies) {
    proxy.restore();
    proxy.delay(SLOW_MS);
  }
  rows.push(
    summary(
      `Postgres ${SLOW_MS} ms late each way, ${args.slow} s`,
      await readFor(urls, ids, Number(args.slow), clients),
      acknowledged,
    ),
  );
  for (const proxy of proxies) proxy.delay(0);
  const recovered = await readFor(urls, ids, TTL_SECONDS * 2, clients);
  rows.push(summary(`Postgres back, ${TTL_SECONDS * 2} s`, recovered, acknowledged));
  process.stdout.write(
    [
      `bench:outage: ${args.app}, ${instances} instance(s), ${clients} clients, Zipf(${ZIPF_S}) reads over ${ids.length} users, TTL ${TTL_SECONDS} s, grace 3,600 s, soft timeout 100 ms, hard 2,000 ms`,
      '',
      '| phase | reads | 200 | fresh hits | stale-if-error | soft-timeout | misses | 503 | p50 ms | p99 ms | older than an acknowledged write |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
    ].join('\n'),
  );
} finally {
  for (const proxy of proxies) proxy.restore();
  await Promise.all(servers.map((server) => server.stop()));
  for (const proxy of proxies) await proxy.close();
  await redis.stop();
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db.end();
}
