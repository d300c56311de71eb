#!/usr/bin/env node
// `npm run bench:partition`: read latency of cache-aside while its Redis hangs (SIGSTOP: sockets open, nothing
// answers, as in a network partition), with the read circuit breaker on (REDIS_BREAKER_FAILURES=3, the default)
// and off (0). Each run gets its own redis-server on a free port; the shared one is never touched.
import autocannon from 'autocannon';
import pg from 'pg';
import { builtApp, DATABASE_URL, healthy, isolatedEnv, ServerProcess } from '../scripts/lib/server-process.mjs';
import { freePort } from '../scripts/lib/free-port.mjs';
import { RedisServer } from '../scripts/lib/redis-server.mjs';

const SECONDS = Number(process.env.PARTITION_SECONDS ?? 8);

async function run(breakerFailures) {
  const redis = await RedisServer.start();
  const port = await freePort();
  const schema = `bench_partition_${breakerFailures}_${process.pid}`;
  const app = new ServerProcess(builtApp('cache-aside'), {
    port,
    env: isolatedEnv(schema, redis.port, { REDIS_BREAKER_FAILURES: String(breakerFailures), LOG_LEVEL: 'error' }),
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    await app.waitFor('/health', { ready: healthy });
    for (let id = 1; id <= 5; id += 1) await fetch(`${url}/users/${id}`);
    redis.freeze();
    const result = await autocannon({
      url,
      connections: 16,
      duration: SECONDS,
      requests: [1, 2, 3, 4, 5].map((id) => ({ method: 'GET', path: `/users/${id}` })),
    });
    redis.thaw();
    return result;
  } finally {
    await app.stop();
    await redis.stop();
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.end();
  }
}

const rows = [];
for (const failures of [3, 0]) {
  const result = await run(failures);
  const label = failures === 0 ? 'off (REDIS_BREAKER_FAILURES=0)' : `on (REDIS_BREAKER_FAILURES=${failures})`;
  rows.push(
    `| ${label} | ${Math.round(result.requests.average)} | ${result.latency.p50} | ${result.latency.p99} | ${result.non2xx} |`,
  );
}
process.stdout.write(
  `cache-aside reads while its Redis hangs (SIGSTOP), 16 connections, ${SECONDS} s, REDIS_COMMAND_TIMEOUT_MS=100\n\n` +
    '| read circuit breaker | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|\n' +
    `${rows.join('\n')}\n`,
);
