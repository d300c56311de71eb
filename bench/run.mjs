#!/usr/bin/env node
// `npm run bench [-- --quick]` (`-- --report` rewrites results.md and results.svg from results.json): the five
// patterns, a no-cache baseline and bare reference servers, measured side by side on this machine against local
// Postgres and Redis. Load comes from autocannon in this process (lib/load.mjs); every server runs in its own
// child process (lib/servers.mjs). Writes bench/results/results.{md,svg,json} (lib/report.mjs); a quick run
// (Fastify only, no cluster or flush details) writes bench/results/quick/, which git ignores. Every Redis key
// the bench made is deleted at the end, and so is every `bench_*` schema it made in the database, whatever happens.
//
// A full run also measures a network between the apps and their stores (`networkRun`): the key rows again with
// Postgres and Redis behind the latency proxy (scripts/latency-proxy.mjs) at 0, 0.5 and 1 ms of round trip, and
// open-loop latency at a fixed 1,000 req/s. `-- --rtt <ms>` runs the whole bench with the stores that far away
// (written to bench/results/rtt-<ms>/; the Redis Cluster rows are left out: a cluster tells its clients its
// nodes' own addresses, which a proxy in front cannot change). `-- --only <section,...>` runs some sections
// (references, hits, writes, apps, write-behind, blog, cluster, network) and writes bench/results/partial/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Cluster, Redis } from 'ioredis';
import { blogClient, measureBlog } from '../scripts/lib/blog-measure.mjs';
import { build, root } from '../scripts/lib/server-process.mjs';
import { load, measurer, readEach, requestMix, stats, USERS, ZIPF_S, zipfSampler } from './lib/load.mjs';
import { network } from './lib/network.mjs';
import { openLoop } from './lib/open-loop.mjs';
import { markdown, svg } from './lib/report.mjs';
import { schemaName, seedUsers, startApp, startReference } from './lib/servers.mjs';
import { PATTERNS as ALL_PATTERNS } from '../scripts/lib/patterns.mjs';

const quick = process.argv.includes('--quick');
const option = (name) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
};
const RTT_MS = option('--rtt') === undefined ? null : Number(option('--rtt'));
if (RTT_MS !== null && !(RTT_MS >= 0 && RTT_MS <= 100)) throw new Error('--rtt takes a round trip in ms, 0 to 100');
const SECTIONS = ['references', 'hits', 'writes', 'apps', 'write-behind', 'blog', 'cluster', 'network'];
const only = option('--only')?.split(',');
for (const name of only ?? []) if (!SECTIONS.includes(name)) throw new Error(`--only: no section "${name}"`);
/** Whether this run measures `section`. */
const runs = (section) => {
  if (only !== undefined) return only.includes(section);
  if (quick) return ['references', 'hits', 'writes', 'apps'].includes(section);
  // The network rows compare round trips from loopback up; with every store far away they would repeat the run.
  return !(RTT_MS !== null && (section === 'cluster' || section === 'network'));
};
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://localhost:6379';
const DURATION = quick ? 1.5 : 10;
const WARMUP = quick ? 1 : 3;
const ADAPTERS = quick ? ['fastify'] : ['express', 'fastify'];
const APPS = quick ? ['no-cache', 'cache-aside', 'write-through', 'write-behind'] : ['no-cache', ...ALL_PATTERNS];
const CLEARABLE = new Set(['cache-aside', 'read-through', 'write-through', 'refresh-ahead']);
const RESULTS = join(
  root,
  'bench/results',
  ...(quick ? ['quick'] : only !== undefined ? ['partial'] : RTT_MS !== null ? [`rtt-${RTT_MS}`] : []),
);
/** Every key the bench writes starts with one of these (BullMQ's prefix is hash-tagged: `{bench:...bull}`). */
const KEY_PATTERNS = ['bench:*', '{bench:*'];
/** What the servers connect to: the stores, or (`--rtt`) the latency proxy in front of them. */
const urls = { databaseUrl: DATABASE_URL, redisUrl: REDIS_URL };
/** `--rtt`: the latency proxy every server reaches the stores through (the bench's own clients do not). */
let farStores = null;

const results = [];
const started = Date.now();
let step = 0;
const progress = (message) => {
  step += 1;
  const elapsed = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write(`[bench ${elapsed}s #${step}] ${message}\n`);
};

const db = new pg.Client({ connectionString: DATABASE_URL });
const redis = new Redis(REDIS_URL);
const measure = measurer({ db, results, progress, duration: DURATION, warmup: WARMUP });

/** Rounds of the head-to-head comparisons, and seconds measured per server per round. */
const ROUNDS = quick ? 1 : 5;
const ROUND_SECONDS = quick ? 1.5 : 4;
/** Rounds of the network rows' head-to-head comparisons, at each round trip. */
const NETWORK_ROUNDS = quick ? 1 : 3;
const PATTERNS = APPS.filter((app) => app !== 'no-cache');

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * The servers a target compares, measured in turn, round after round, each round starting one server later: this
 * machine's speed drifts by half over minutes, and a server measured minutes after another would carry that drift
 * into their ratio, where here it moves every column alike. They are all started first, and every one but the
 * server being measured is paused (SIGSTOP) meanwhile, so no idle app's timers, sweeps or flushes run during
 * another's measurement. Each entry is a `measure` argument plus its `process` (a ServerProcess) and optional
 * `before` and `after` steps (unmeasured). Records, for each server, the row of its median round with every
 * round's req/s in `rounds`, from which the report takes the median of the ratios.
 */
async function alternate(entries, rounds = ROUNDS) {
  const signal = (entry, name) => {
    if (entry.process.child.exitCode === null && entry.process.child.signalCode === null)
      entry.process.child.kill(name);
  };
  const byRound = entries.map(() => []);
  try {
    for (const entry of entries) signal(entry, 'SIGSTOP');
    for (let round = 0; round < rounds; round += 1) {
      for (let step = 0; step < entries.length; step += 1) {
        const index = (step + round) % entries.length;
        const { before, after, ...entry } = entries[index];
        signal(entries[index], 'SIGCONT');
        try {
          await before?.();
          byRound[index][round] = await measure({
            ...entry,
            duration: ROUND_SECONDS,
            warmup: 1,
            record: false,
            label: rounds > 1 ? `, round ${round + 1} of ${rounds}` : '',
          });
          await after?.();
        } finally {
          signal(entries[index], 'SIGSTOP');
        }
      }
    }
  } finally {
    for (const entry of entries) signal(entry, 'SIGCONT');
  }
  for (const rows of byRound) {
    const middle = median(rows.map((row) => row.rps));
    const row = rows.find((candidate) => candidate.rps === middle);
    results.push({ ...row, seconds: ROUND_SECONDS, rounds: rows.map((candidate) => candidate.rps) });
    if (row.hitRatio !== null && row.hitRatio < 0.99 && row.workload.startsWith('hits only')) {
      progress(`warning: ${row.server} on ${row.adapter} hit ratio ${row.hitRatio.toFixed(3)} in "hits only"`);
    }
  }
}

/** Every reference server reads the same users, as JSON under `bench:ref:<id>`. */
async function referenceUsers(ids) {
  const pipeline = redis.pipeline();
  for (const id of ids) {
    const user = { id, name: `Bench User ${id}`, email: `bench${id}@example.test`, age: 30 };
    pipeline.set(`bench:ref:${id}`, JSON.stringify(user));
  }
  await pipeline.exec();
}

/** Starts a bare reference server (`bench/reference/*.mjs`) reading `bench:ref:<id>`. */
function reference(script, env = {}) {
  return startReference(
    script,
    { ...env, DATABASE_URL: urls.databaseUrl, REDIS_URL: urls.redisUrl, KEY_PREFIX: 'bench:ref:' },
    '/users/1',
  );
}

/**
 * Warm hits, head to head, on one adapter: the five patterns and the bare servers the targets compare them
 * with (node:http + Redis with Fastify's group, Express 5 + Redis with Express's, and one Nest route + Redis
 * on the adapter). Every server reads every user once before each of its rounds, so that every read hits.
 */
async function hitsHeadToHead(adapter, zipf, referenceIds) {
  const servers = [];
  const started = async (promise) => {
    const server = await promise;
    servers.push(server);
    return server;
  };
  try {
    const entries = [];
    const referenceReads = requestMix(referenceIds, 1, zipf);
    const bare =
      adapter === 'fastify'
        ? ['node:http + Redis', 'bench/reference/node-redis.mjs', undefined]
        : ['Express + Redis', 'bench/reference/express-redis.mjs', 'express'];
    // The bare server right before cache-aside: the pair its target compares is measured back to back.
    for (const [name, script, serverAdapter, env] of [
      ['Nest route + Redis', 'bench/reference/nest-redis.mjs', adapter, { HTTP_ADAPTER: adapter }],
      bare,
    ]) {
      const server = await started(reference(script, env));
      entries.push({
        server: name,
        adapter: serverAdapter,
        workload: 'read-heavy (hits only)',
        port: server.port,
        requests: referenceReads,
        process: server,
      });
    }
    for (const app of PATTERNS) {
      // A TTL longer than the group runs: reading a user again does not extend a cache-aside entry's TTL, and
      // on a slow machine the seven servers' five rounds outlast the default 300 s, so "hits only" had misses.
      const server = await started(startApp(app, adapter, { ...urls, env: { CACHE_TTL_SECONDS: '3600' } }));
      const ids = await seedUsers(DATABASE_URL, schemaName(app));
      // Its misses now, so that their Postgres reads are not counted in its first round.
      await readEach(server.port, ids);
      entries.push({
        server: app,
        adapter,
        workload: 'hits only (100% reads, warm)',
        port: server.port,
        requests: requestMix(ids, 1, zipf),
        pattern: app,
        process: server,
        // Zipf's long tail is cold after a short warm-up: read every user once, so "hits only" is hits.
        before: () => readEach(server.port, ids),
      });
    }
    await alternate(entries);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/**
 * Accepted writes, head to head, on one adapter: write-through and write-behind. Write-behind's backlog is
 * flushed after each of its rounds (unmeasured), so its flushing does not run during write-through's round.
 */
async function writesHeadToHead(adapter, zipf) {
  const servers = [];
  try {
    const entries = [];
    for (const app of ['write-through', 'write-behind'].filter((name) => APPS.includes(name))) {
      const server = await startApp(app, adapter, urls);
      servers.push(server);
      const ids = await seedUsers(DATABASE_URL, schemaName(app));
      const flush = () => fetch(`${server.url}/flush?wait=true`, { method: 'POST' });
      entries.push({
        server: app,
        adapter,
        workload: 'writes only (100% writes)',
        port: server.port,
        requests: requestMix(ids, 0, zipf),
        pattern: app,
        process: server,
        ...(app === 'write-behind' ? { before: flush, after: flush } : {}),
      });
    }
    await alternate(entries);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/** The bare node:http + Postgres server (no target compares with it; it shows what one Postgres read costs). */
async function postgresReference(ids, zipf) {
  const server = await reference('bench/reference/node-postgres.mjs', { DATABASE_SCHEMA: 'bench_reference' });
  try {
    await measure({
      server: 'node:http + Postgres',
      workload: 'read-heavy (hits only)',
      port: server.port,
      requests: requestMix(ids, 1, zipf),
    });
  } finally {
    await server.stop();
  }
}

/** The other workloads against one pattern app (or the no-cache baseline) on one adapter. */
async function patternApp(app, adapter, zipf) {
  const server = await startApp(app, adapter, urls);
  const port = server.port;
  const run = (workload, requests, options = {}) =>
    measure({ server: app, adapter, workload, port, requests, pattern: app, ...options });
  try {
    const ids = await seedUsers(DATABASE_URL, schemaName(app));
    const readHeavy = requestMix(ids, 0.95, zipf);
    if (CLEARABLE.has(app) && !quick) {
      await fetch(`${server.url}/cache/clear`, { method: 'POST' });
      await run('cold start (95% reads)', readHeavy, { warm: false });
    }
    if (app !== 'no-cache') await readEach(port, ids);
    await run('read-heavy (95% reads)', readHeavy);
    if (!quick) await run('write-heavy (50% writes)', requestMix(ids, 0.5, zipf));
    if (app === 'write-behind' && !quick) await fetch(`${server.url}/flush?wait=true`, { method: 'POST' });
  } finally {
    await server.stop();
  }
}

/** Write-behind on its own terms: accepted writes/s, flush throughput, flush lag at a fixed 1,000 writes/s. */
async function writeBehindDetails(zipf) {
  const uniform = () => Math.floor(Math.random() * USERS);
  const details = {};
  const held = await startApp('write-behind', 'fastify', {
    ...urls,
    env: { WRITE_BEHIND_BATCH_DELAY_MS: '600000', WRITE_BEHIND_FLUSH_INTERVAL_MS: '600000' },
  });
  try {
    const ids = await seedUsers(DATABASE_URL, schemaName('write-behind'));
    await fetch(`${held.url}/flush?wait=true`, { method: 'POST' });
    progress('write-behind: flush throughput (writes held, then one flush)');
    await load(held.port, requestMix(ids, 0, uniform), quick ? 2 : 5);
    const before = await stats(held.port);
    const flushStarted = performance.now();
    await fetch(`${held.url}/flush?wait=true`, { method: 'POST' });
    const seconds = (performance.now() - flushStarted) / 1000;
    const after = await stats(held.port);
    const rows = after.flushedRows - before.flushedRows;
    details.flushRows = rows;
    details.flushSeconds = Math.round(seconds * 1000) / 1000;
    details.flushRowsPerSecond = Math.round(rows / seconds);
  } finally {
    await held.stop();
  }
  const paced = await startApp('write-behind', 'fastify', urls);
  try {
    const ids = await seedUsers(DATABASE_URL, schemaName('write-behind'));
    const row = await measure({
      server: 'write-behind',
      adapter: 'fastify',
      workload: 'writes at a fixed 1,000/s',
      port: paced.port,
      requests: requestMix(ids, 0, zipf),
      warm: false,
      pattern: 'write-behind',
      extra: { overallRate: 1000 },
    });
    details.lagP99Ms = row.flushLagP99Ms;
  } finally {
    await paced.stop();
  }
  return details;
}

/** Posts the blog seeds in the bench: the demo's size. */
const BLOG_POSTS = 500_000;

/**
 * The blog at its demo size: the time from starting it on an empty schema (dropped first) until it answers
 * healthy, which is seeding the posts and building its list cache, then `measureBlog` (what
 * `npm run demo:blog` prints).
 */
async function blogRun() {
  const schema = schemaName('blog');
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  // Keys an interrupted earlier run left would be chunks of a database that is gone.
  for await (const keys of redis.scanStream({ match: 'bench:blog:*', count: 1000 })) {
    if (keys.length > 0) await redis.unlink(...keys);
  }
  progress(`blog: seeding ${BLOG_POSTS.toLocaleString('en-US')} posts, then its reads and writes`);
  const startedAt = performance.now();
  const blog = await startApp('blog', 'express', {
    ...urls,
    env: { BLOG_SEED_POSTS: String(BLOG_POSTS), ADMIN_OPEN: 'true', REDIS_CLUSTER_NODES: '' },
    startTimeoutMs: 300_000,
  });
  try {
    const startSeconds = Math.round((performance.now() - startedAt) / 100) / 10;
    const measured = { posts: BLOG_POSTS, startSeconds, ...(await measureBlog(new URL(blog.url))) };
    await blog.stop();
    if (runs('network')) measured.network = await blogOverNetwork();
    return measured;
  } finally {
    await blog.stop();
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}

/**
 * The blog's full-list hit (gzip, median of 5) with Postgres and Redis at each of the network rows' round
 * trips: a blog started through the latency proxy on the schema and the list {@link blogRun} left in Redis.
 */
async function blogOverNetwork() {
  const rows = [];
  for (const rttMs of NETWORK_RTTS.filter((rtt) => rtt !== null)) {
    progress(`network ${networkLabel(rttMs)}: blog, full list hits`);
    const net = await network({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, rttMs });
    const blog = await startApp('blog', 'express', {
      databaseUrl: net.databaseUrl,
      redisUrl: net.redisUrl,
      env: { BLOG_SEED_POSTS: String(BLOG_POSTS), BLOG_WARM_ON_START: 'false', REDIS_CLUSTER_NODES: '' },
      startTimeoutMs: 120_000,
    });
    const { call, close } = blogClient(new URL(blog.url));
    try {
      await call('GET', '/posts', { headers: { 'Accept-Encoding': 'gzip' } });
      const hits = [];
      for (let i = 0; i < 5; i += 1) {
        const hit = await call('GET', '/posts', { headers: { 'Accept-Encoding': 'gzip' } });
        if (hit.headers['x-cache'] !== 'HIT')
          throw new Error(`blog list: expected a hit, got ${hit.headers['x-cache']}`);
        hits.push(hit.ms);
      }
      rows.push({ rttMs, listHitMs: median(hits) });
    } finally {
      close();
      await blog.stop();
      await net.close();
    }
  }
  return rows;
}

const CLUSTER_NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';
/** How long after its last transaction an idle backend's counts reach `pg_stat_database` at the latest. */
const PG_STATS_IDLE_FLUSH_MS = 11_000;

/** Cache-aside warm hits and write-behind accepted writes again, on a local Redis Cluster. */
async function clusterRun(zipf) {
  const wasUp = spawnSync('redis-cli', ['-p', '7000', 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
  progress('Redis Cluster: npm run cluster:up');
  if (spawnSync(process.execPath, ['scripts/cluster.mjs', 'up'], { cwd: root, stdio: 'inherit' }).status !== 0) {
    throw new Error('cluster:up failed');
  }
  try {
    for (const [app, workload, readShare] of [
      ['cache-aside', 'hits only (100% reads, warm)', 1],
      ['write-behind', 'writes only (100% writes)', 0],
    ]) {
      const server = await startApp(app, 'fastify', { ...urls, env: { REDIS_CLUSTER_NODES: CLUSTER_NODES } });
      try {
        const ids = await seedUsers(DATABASE_URL, schemaName(app));
        const requests = requestMix(ids, readShare, zipf);
        // Every user once first, as the one-Redis "hits only" rows do: a 3 s Zipf warm-up leaves thousands of
        // the 10,000 users unread, and their first reads in the measurement were misses (0.986, ~560 q/s).
        if (readShare === 1) {
          await readEach(server.port, ids);
          // Postgres reports a backend's transactions when it goes idle, but at most once a second; what is
          // left is reported once it has been idle 10 s (PGSTAT_IDLE_INTERVAL). Waiting that long keeps the
          // 10,000 loads above out of the measured Postgres q/s (they had shown up as 100-220 q/s of "hits").
          await new Promise((done) => setTimeout(done, PG_STATS_IDLE_FLUSH_MS));
        }
        await measure({
          server: `${app} on a Redis Cluster`,
          adapter: 'fastify',
          workload,
          port: server.port,
          requests,
          pattern: app,
        });
        if (app === 'write-behind') await fetch(`${server.url}/flush?wait=true`, { method: 'POST' });
      } finally {
        await server.stop();
      }
    }
  } finally {
    if (!wasUp) spawnSync(process.execPath, ['scripts/cluster.mjs', 'down'], { cwd: root, stdio: 'inherit' });
  }
}

/** The round trips the network rows are measured at (null: loopback, no proxy; 0: through the proxy, no delay). */
const NETWORK_RTTS = [null, 0, 0.5, 1];
/** The open-loop rate: well below what any server here saturates at, so a request finds its server idle. */
const OPEN_LOOP_RATE = 1000;
const OPEN_LOOP_SECONDS = 8;
const networkLabel = (rttMs) => (rttMs === null ? 'loopback' : `${rttMs} ms`);

/**
 * The rows a network changes, at each of {@link NETWORK_RTTS} (on Fastify, whose per-request cost is small
 * enough for a round trip to show): cache-aside hits with the near cache off and on and write-through against
 * write-behind writes, head to head as elsewhere; cache-aside read-heavy; open-loop latency of a Redis hit and a
 * near hit; the latency proxy's CPU (% of a core) while each row ran. The blog's list hit is measured in
 * {@link blogRun}.
 */
async function networkRun(zipf) {
  const rows = [];
  const openLoopRows = [];
  const proxies = [];
  for (const rttMs of NETWORK_RTTS) {
    const net = rttMs === null ? null : await network({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, rttMs });
    if (net !== null) proxies.push({ rttMs, holdMs: net.holdMs, addedMs: net.addedMs });
    const stores = net ?? urls;
    const servers = [];
    const idsOf = new Map();
    const started = async (app, env, schemaOf = app) => {
      const server = await startApp(app, 'fastify', {
        ...stores,
        schemaOf,
        env: { CACHE_TTL_SECONDS: '3600', ...env },
      });
      servers.push(server);
      return server;
    };
    /** The proxy's share of a core from `before` to `after` of an entry, by round. */
    const proxyShare = new Map();
    const watched = (name) => {
      let mark;
      return {
        before: async () => (mark = net && { cpu: await net.cpuMicros(), at: performance.now() }),
        after: async () => {
          if (!mark) return;
          const share = (await net.cpuMicros()) - mark.cpu;
          proxyShare.set(name, [...(proxyShare.get(name) ?? []), share / 1000 / (performance.now() - mark.at)]);
        },
      };
    };
    try {
      progress(`network ${networkLabel(rttMs)}: cache-aside hits, near cache off and on; writes`);
      const off = await started('cache-aside', { NEAR_CACHE_MAX_ENTRIES: '0' }, 'near-off');
      const on = await started(
        'cache-aside',
        { NEAR_CACHE_MAX_ENTRIES: String(USERS), NEAR_CACHE_TTL_MS: '600000' },
        'near-on',
      );
      const writers = [];
      for (const app of ['write-through', 'write-behind']) writers.push([app, await started(app, {})]);
      const entries = [];
      for (const [name, server] of [
        ['cache-aside, near cache off', off],
        ['cache-aside, near cache on', on],
      ]) {
        const ids = await seedUsers(DATABASE_URL, schemaName(name.endsWith('off') ? 'near-off' : 'near-on'));
        const reads = requestMix(ids, 1, zipf);
        // Every user twice: the first read fills Redis (and the near cache), the second fills the near cache
        // from Redis; either way every measured read is a hit.
        await readEach(server.port, ids);
        await readEach(server.port, ids);
        const watch = watched(name);
        entries.push({
          server: name,
          adapter: 'fastify',
          workload: 'hits only (100% reads, warm)',
          port: server.port,
          requests: reads,
          pattern: 'cache-aside',
          process: server,
          before: async () => {
            await readEach(server.port, ids);
            await watch.before();
          },
          after: watch.after,
        });
        idsOf.set(server, ids);
      }
      const writeEntries = [];
      for (const [app, server] of writers) {
        const ids = await seedUsers(DATABASE_URL, schemaName(app));
        const flush = () => fetch(`${server.url}/flush?wait=true`, { method: 'POST' });
        const watch = watched(app);
        writeEntries.push({
          server: app,
          adapter: 'fastify',
          workload: 'writes only (100% writes)',
          port: server.port,
          requests: requestMix(ids, 0, zipf),
          pattern: app,
          process: server,
          before: async () => {
            if (app === 'write-behind') await flush();
            await watch.before();
          },
          after: async () => {
            await watch.after();
            if (app === 'write-behind') await flush();
          },
        });
      }
      const at = results.length;
      await alternate([...entries, ...writeEntries], NETWORK_ROUNDS);
      for (const row of results.splice(at)) {
        rows.push({ ...row, rttMs, proxyCoreShare: median(proxyShare.get(row.server) ?? [null]) });
      }

      // Open loop, one server at a time, the others paused.
      for (const { name, server } of [
        { name: 'cache-aside, near cache off', server: off },
        { name: 'cache-aside, near cache on', server: on },
      ]) {
        for (const other of servers) if (other !== server) other.child.kill('SIGSTOP');
        try {
          progress(`network ${networkLabel(rttMs)}: ${name}, open loop at ${OPEN_LOOP_RATE}/s`);
          const ids = idsOf.get(server);
          const path = () => `/users/${ids[zipf()]}`;
          await openLoop({ port: server.port, path, rate: OPEN_LOOP_RATE, seconds: 1 });
          const before = await stats(server.port);
          const result = await openLoop({ port: server.port, path, rate: OPEN_LOOP_RATE, seconds: OPEN_LOOP_SECONDS });
          const after = await stats(server.port);
          const reads = after.reads - before.reads;
          openLoopRows.push({
            rttMs,
            server: name,
            ...result,
            hitRatio: (after.hits - before.hits) / reads,
            nearShare: (after.nearHits - before.nearHits) / reads,
          });
        } finally {
          for (const other of servers) other.child.kill('SIGCONT');
        }
      }

      // Cache-aside read-heavy (5% writes, which the near cache cannot serve after), near cache off.
      for (const other of servers) if (other !== off) other.child.kill('SIGSTOP');
      try {
        const watch = watched('read-heavy');
        await watch.before();
        const row = await measure({
          server: 'cache-aside, near cache off',
          adapter: 'fastify',
          workload: 'read-heavy (95% reads)',
          port: off.port,
          requests: requestMix(idsOf.get(off), 0.95, zipf),
          pattern: 'cache-aside',
          record: false,
          label: ` (${networkLabel(rttMs)})`,
        });
        await watch.after();
        rows.push({ ...row, rttMs, proxyCoreShare: proxyShare.get('read-heavy')?.[0] ?? null });
      } finally {
        for (const other of servers) other.child.kill('SIGCONT');
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      await net?.close();
    }
  }
  return { rows, openLoop: openLoopRows, proxies, rate: OPEN_LOOP_RATE, seconds: OPEN_LOOP_SECONDS };
}

/** The table's order: references, then each app by adapter, its workloads in the order a reader meets them. */
const SERVER_ORDER = ['node:http + Redis', 'Express + Redis', 'node:http + Postgres', 'Nest route + Redis', ...APPS];
const WORKLOAD_ORDER = [
  'read-heavy (hits',
  'cold',
  'hits only',
  'read-heavy (95',
  'write-heavy',
  'writes only',
  'writes at',
];
function byTableOrder(a, b) {
  const rank = (list, match) => {
    const index = list.findIndex(match);
    return index === -1 ? list.length : index;
  };
  const server = (row) => rank(SERVER_ORDER, (name) => name === row.server);
  const workload = (row) => rank(WORKLOAD_ORDER, (start) => row.workload.startsWith(start));
  return server(a) - server(b) || a.adapter.localeCompare(b.adapter) || workload(a) - workload(b);
}

async function machine() {
  const postgres = (await db.query('SHOW server_version')).rows[0].server_version;
  const info = await redis.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1];
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, PostgreSQL ${postgres}, Redis ${redisVersion}`;
}

if (process.argv.includes('--report')) {
  const saved = JSON.parse(readFileSync(join(RESULTS, 'results.json'), 'utf8'));
  const report = { duration: saved.quick ? 1.5 : 10, warmup: saved.quick ? 1 : 3, ...saved };
  writeFileSync(join(RESULTS, 'results.md'), markdown(report));
  writeFileSync(join(RESULTS, 'results.svg'), svg(saved.results));
  process.exit(0);
}

/** Deletes every key the bench made, on the single Redis (and on the local cluster when it is up). */
async function deleteBenchKeys() {
  const clients = [redis];
  const clusterUp = spawnSync('redis-cli', ['-p', '7000', 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
  const nodes = CLUSTER_NODES.split(',').map((node) => ({
    host: node.split(':')[0],
    port: Number(node.split(':')[1]),
  }));
  const cluster = clusterUp ? new Cluster(nodes) : null;
  if (cluster !== null) clients.push(...(await clusterMasters(cluster)));
  /** Calls `each(keys)` for every SCAN page of the bench's keys on every client. */
  const scanAll = async (each) => {
    for (const client of clients) {
      for (const match of KEY_PATTERNS) {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
          cursor = next;
          await each(client, keys);
        } while (cursor !== '0');
      }
    }
  };
  let deleted = 0;
  let left = 0;
  try {
    await scanAll(async (client, keys) => {
      // One UNLINK per key, pipelined: on a cluster node, keys of one SCAN page live in different slots.
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.unlink(key);
      for (const [error, count] of (await pipeline.exec()) ?? []) if (!error) deleted += Number(count);
    });
    // The check that the bench leaves nothing behind: a second pass finds no key.
    await scanAll((_, keys) => (left += keys.length));
  } finally {
    cluster?.disconnect();
  }
  progress(`deleted ${deleted} Redis keys the bench made; ${left} left`);
  if (left > 0) process.exitCode = 1;
}

/** Drops the schemas the bench made in the user's database (`bench_*`: each app's, the references'). */
async function dropBenchSchemas() {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query(String.raw`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\_%'`);
    for (const { nspname } of rows) await client.query(`DROP SCHEMA "${nspname}" CASCADE`);
    progress(`dropped ${rows.length} schemas the bench made (${rows.map((row) => row.nspname).join(', ') || 'none'})`);
  } finally {
    await client.end();
  }
}

async function clusterMasters(cluster) {
  await new Promise((resolve, reject) => cluster.once('ready', resolve).once('error', reject));
  return cluster.nodes('master');
}

try {
  progress('building');
  build();
  const zipf = zipfSampler(USERS, ZIPF_S);
  // The Postgres reference reads the same table shape, in a schema of its own (created by a short app start,
  // which also creates the database on a fresh machine: so the bench's own client connects after it).
  await (await startApp('no-cache', 'express', { ...urls, schemaOf: 'reference' })).stop();
  await db.connect();
  if (RTT_MS !== null) {
    farStores = await network({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, rttMs: RTT_MS });
    urls.databaseUrl = farStores.databaseUrl;
    urls.redisUrl = farStores.redisUrl;
    progress(
      `Postgres and Redis ${RTT_MS} ms away (round trip), through the latency proxy: a PING through it ` +
        `${farStores.addedMs.toFixed(2)} ms longer than straight, holding ${farStores.holdMs.toFixed(2)} ms each way`,
    );
  }
  // The no-cache app that made the schema has stopped: nothing applies its outbox, and nothing reads it.
  const referenceIds = await seedUsers(DATABASE_URL, 'bench_reference', { applied: false });
  await referenceUsers(referenceIds);
  if (runs('references') && !quick) await postgresReference(referenceIds, zipf);
  if (runs('hits')) for (const adapter of ADAPTERS) await hitsHeadToHead(adapter, zipf, referenceIds);
  if (runs('writes')) for (const adapter of ADAPTERS) await writesHeadToHead(adapter, zipf);
  if (runs('apps')) for (const app of APPS) for (const adapter of ADAPTERS) await patternApp(app, adapter, zipf);
  const details = runs('write-behind') ? await writeBehindDetails(zipf) : {};
  if (runs('network')) details.network = await networkRun(zipf);
  if (runs('blog')) details.blog = await blogRun();
  if (runs('cluster')) await clusterRun(zipf);
  results.sort(byTableOrder);
  const saved = {
    quick,
    ...(RTT_MS === null ? {} : { rttMs: RTT_MS, proxy: { addedMs: farStores.addedMs, holdMs: farStores.holdMs } }),
    ...(only === undefined ? {} : { only }),
    date: new Date().toISOString().slice(0, 10),
    machine: await machine(),
    results,
    details,
  };
  const report = { ...saved, duration: DURATION, warmup: WARMUP };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'results.json'), JSON.stringify(saved, null, 2));
  writeFileSync(join(RESULTS, 'results.md'), markdown(report));
  writeFileSync(join(RESULTS, 'results.svg'), svg(results));
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write(`\n${markdown(report)}\nWritten to ${RESULTS.slice(root.length + 1)}/ in ${seconds} s.\n`);
} finally {
  await deleteBenchKeys().catch((error) => progress(`could not delete the bench's keys: ${error.message}`));
  await dropBenchSchemas().catch((error) => progress(`could not drop the bench's schemas: ${error.message}`));
  await farStores?.close();
  await db.end().catch(() => undefined);
  redis.disconnect();
}
