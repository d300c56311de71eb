#!/usr/bin/env node
// `npm run bench:near [-- <app>] [--rtt <ms>]`: warm hits (cache-aside by default) with the near cache on
// (NEAR_CACHE_MAX_ENTRIES=10000) and off, on both adapters: Zipf(0.99) reads over 10,000 users, 32 connections, after a warm-up that leaves every read a
// hit. Prints req/s, p50/p99 latency and how many hits the near cache answered. Needs a build (npm run build).
// `--rtt <ms>` puts Redis and Postgres a network away: the apps reach both through the latency proxy, in a process
// of its own, that holds every chunk half the round trip in each direction (scripts/latency-proxy.mjs; `--rtt 0`:
// the proxy alone, to see what it costs).
import { load, stats, USERS, zipfSampler } from './lib/load.mjs';
import { network } from './lib/network.mjs';
import { schemaName, seedUsers, startApp } from './lib/servers.mjs';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://localhost:6379';
const SECONDS = Number(process.env.NEAR_BENCH_SECONDS ?? 8);
const rttAt = process.argv.indexOf('--rtt');
const RTT_MS = rttAt === -1 ? null : Number(process.argv[rttAt + 1]);
const APP =
  process.argv.slice(2).find((arg, index, all) => !arg.startsWith('--') && all[index - 1] !== '--rtt') ?? 'cache-aside';
/** What the apps connect to: the stores, or the latency proxies in front of them. */
const far = RTT_MS === null ? null : await network({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, rttMs: RTT_MS });
const stores = far ?? { databaseUrl: DATABASE_URL, redisUrl: REDIS_URL };

const ROUNDS = Number(process.env.NEAR_BENCH_ROUNDS ?? 3);

/** A warm server: every user read twice (a miss fills Redis and the near cache), then the load's own shape. */
async function warmServer(adapter, entries, ids, reads) {
  const server = await startApp(APP, adapter, {
    ...stores,
    schemaOf: 'near-cache',
    env: { NEAR_CACHE_MAX_ENTRIES: String(entries), NEAR_CACHE_TTL_MS: '60000', REDIS_CLUSTER_NODES: '' },
  });
  for (let start = 0; start < ids.length; start += 500) {
    await Promise.all(
      ids
        .slice(start, start + 500)
        .flatMap((id) => [1, 2].map(() => fetch(`${server.url}/users/${id}`).then((r) => r.arrayBuffer()))),
    );
  }
  await load(server.port, reads, 2);
  return server;
}

async function measure(server, reads) {
  const before = await stats(server.port);
  const result = await load(server.port, reads, SECONDS);
  const after = await stats(server.port);
  const measured = after.reads - before.reads;
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    hitRatio: (after.hits - before.hits) / measured,
    nearShare: (after.nearHits - before.nearHits) / measured,
    errors: result.errors + result.non2xx,
    misses: after.misses - before.misses,
    bypasses: after.bypasses - before.bypasses,
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Both servers of an adapter run side by side (one idle while the other is measured), and the measurements
 * alternate off, on, off, on...: a machine whose speed drifts over minutes moves both columns alike.
 */
const rows = [];
// A short start creates the schema and its table (the full bench drops its schemas when it ends).
await (await startApp(APP, 'express', { ...stores, schemaOf: 'near-cache', env: { REDIS_CLUSTER_NODES: '' } })).stop();
const ids = await seedUsers(DATABASE_URL, schemaName('near-cache'), { applied: false });
const pick = zipfSampler(ids.length, 0.99);
const reads = [{ setupRequest: (request) => ({ ...request, method: 'GET', path: `/users/${ids[pick()]}` }) }];
for (const adapter of ['fastify', 'express']) {
  const off = await warmServer(adapter, 0, ids, reads);
  const on = await warmServer(adapter, USERS, ids, reads);
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const { near, server } of [
        { near: 'off', server: off },
        { near: 'on', server: on },
      ]) {
        rows.push({ adapter, round, near, ...(await measure(server, reads)) });
      }
    }
  } finally {
    await Promise.all([off.stop(), on.stop()]);
  }
}
await far?.close();
const where =
  far === null
    ? 'Redis and Postgres on loopback'
    : `Redis and Postgres ${RTT_MS} ms away (round trip; measured, a PING ${far.addedMs.toFixed(2)} ms longer than straight)`;
console.log(`${APP}, warm hits, ${where}, ${SECONDS} s per row, ${ROUNDS} rounds alternating off and on\n`);
console.log(
  '| adapter | round | near cache | req/s | p50 ms | p99 ms | hit ratio | answered by the near cache | errors | misses | bypasses |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  console.log(
    `| ${row.adapter} | ${row.round} | ${row.near} | ${row.rps.toLocaleString('en-US')} | ${row.p50} | ${row.p99} | ${row.hitRatio.toFixed(3)} | ${(100 * row.nearShare).toFixed(1)} % | ${row.errors} | ${row.misses} | ${row.bypasses} |`,
  );
}
console.log('');
for (const adapter of ['fastify', 'express']) {
  const of = (near) => rows.filter((row) => row.adapter === adapter && row.near === near).map((row) => row.rps);
  const [off, on] = [of('off'), of('on')];
  const rounds = on.map((rps, index) => `${(rps / off[index]).toFixed(2)}x`).join(', ');
  console.log(
    `${adapter}: near cache on / off = ${(median(on) / median(off)).toFixed(2)}x (medians ${median(on).toLocaleString('en-US')} / ${median(off).toLocaleString('en-US')} req/s; by round ${rounds})`,
  );
}
