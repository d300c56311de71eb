#!/usr/bin/env node
// `npm run audit:consistency -- --app <pattern> [--url <u1,u2,...>] [--instances N] [--seconds S]
//   [--faults partition,redis-restart,postgres-down,postgres-slow,replica-lag] [--replica] [--keys K] [--readers R]
//   [--maxmemory 2mb --policy allkeys-lru] [--no-build]`
//
// The project's own consistency checker. It runs a randomized concurrent history against several instances of
// one pattern app (one writer per key, several readers, a few hot keys), reads each answer's version from its
// ETag, and checks the rule: a read that starts after a write was acknowledged returns that write or a later
// one. It reports stale reads within one instance (the write and the read went through the same instance; the
// exit code is 1 if there is any) and across instances (with how stale, in ms past the acknowledgement), and,
// for write-behind, whether Postgres ends at the last acknowledged version of every key.
//
// Without --url it starts everything itself: its own redis-server (AOF, fsync always) on a free port, and N
// instances of the built app, each reaching Redis and Postgres through TCP proxies of its own, on a fresh schema of
// the shared Postgres. Faults: `partition` cuts instance 1 off from Redis (not from Postgres) for a quarter of the
// run; `redis-restart` shuts Redis down and starts it again from its AOF; `postgres-down` cuts every instance off
// from Postgres for a fifth of the run; `postgres-slow` delays every packet to and from Postgres 150 ms for
// another fifth. Grace copies answered meanwhile (`Cache-Status: …; fwd=stale`) are reported apart, with their age. With --url (a running deployment) it
// injects no faults. `--app all` audits the five patterns one after the other.
//
// `--replica` runs the apps on a private Postgres primary and a streaming replica of it (scripts/lib/postgres-replica.mjs,
// in a temp folder, on free ports; `DATABASE_REPLICA_URLS`, with a 50 s lag limit so a lagging replica stays in
// use): loads after a miss go to the replica. The `replica-lag` fault pauses the replica's replay
// (`pg_wal_replay_pause()`) for two stretches of a fifth of the run, so every write meanwhile is missing there.
// The report adds loads by source and the replica rows refused as older than a write the cache knew of.
//
// `--maxmemory <size>` (with `--policy`, `noeviction` unless given) runs the audit's Redis at that memory limit
// and keeps it full: a filler writes 16 KB keys without a TTL all through the run, so an evicting policy evicts
// all the time (the report gives evicted_keys). Write-behind refuses every write under an `allkeys-*` policy; the
// audit then checks that it refused them all, and nothing else.
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { build, builtApp, DATABASE_URL, healthy, isolatedEnv, ServerProcess } from './lib/server-process.mjs';
import { freePort } from './lib/free-port.mjs';
import { PATTERNS } from './lib/patterns.mjs';
import { ReplicaPair } from './lib/postgres-replica.mjs';
import { RedisServer } from './lib/redis-server.mjs';
import { proxyInFront, TcpProxy } from './lib/tcp-proxy.mjs';

const REQUEST_TIMEOUT_MS = 5000;

const { values: args } = parseArgs({
  options: {
    app: { type: 'string', default: 'cache-aside' },
    url: { type: 'string' },
    instances: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '20' },
    faults: { type: 'string', default: '' },
    keys: { type: 'string', default: '6' },
    readers: { type: 'string', default: '6' },
    schema: { type: 'string' },
    maxmemory: { type: 'string' },
    policy: { type: 'string' },
    replica: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
});

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const random = (n) => Math.floor(Math.random() * n);

const FAULTS = ['partition', 'redis-restart', 'postgres-down', 'postgres-slow', 'replica-lag'];
/** postgres-slow: the delay each way, past the apps' soft timeout (100 ms) and within their hard one (2 s). */
const POSTGRES_SLOW_MS = 150;

async function request(base, method, path, body) {
  const started = performance.now();
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    const etag = response.headers.get('etag');
    return {
      status: response.status,
      body: text === '' ? null : JSON.parse(text),
      // A record's ETag is its version ("7"); other answers may carry Express's weak body hash.
      version: /^"\d+"$/.test(etag ?? '') ? Number(etag.slice(1, -1)) : null,
      cacheStatus: response.headers.get('cache-status') ?? '',
      stale: /fwd=stale/.test(response.headers.get('cache-status') ?? ''),
      age: Number(response.headers.get('age') ?? NaN),
      started,
      ended: performance.now(),
    };
  } catch (error) {
    if (process.env.AUDIT_DEBUG)
      console.log(method, path, Math.round(performance.now() - started), error.cause?.code ?? error.name);
    return { status: 0, body: null, version: null, started, ended: performance.now() };
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** `200: 950, 503: 12, no answer: 1`: how a set of requests was answered. */
function byStatus(requests) {
  const counts = new Map();
  for (const { status } of requests) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status === 0 ? 'no answer' : status}: ${count}`)
    .join(', ');
}

const ms = (value) => (value === null ? '–' : `${value.toFixed(1)}`);

/** A private primary + streaming replica pair in a temp folder, on free ports. */
async function startPair() {
  const pair = new ReplicaPair(mkdtempSync(join(tmpdir(), 'audit-replica-')), await freePort(), await freePort());
  try {
    return await pair.up();
  } catch (error) {
    pair.remove();
    throw error;
  }
}

/** Starts what the audit needs without --url; returns the instances' URLs and how to inject faults and clean up. */
async function deploy(app, instances) {
  const memory =
    args.maxmemory === undefined
      ? []
      : ['--maxmemory', args.maxmemory, '--maxmemory-policy', args.policy ?? 'noeviction'];
  // With an append-only file (fsync always), so a restart keeps every acknowledged write.
  const redis = await RedisServer.start(undefined, memory, { aof: true });
  const schema = `audit_${app.replace(/-/g, '_')}_${process.pid}`;
  const pair = args.replica ? await startPair() : null;
  const databaseUrl = pair === null ? DATABASE_URL : pair.url('caching_patterns');
  const replicaEnv =
    pair === null
      ? {}
      : { DATABASE_REPLICA_URLS: pair.url('caching_patterns', 'replica'), DATABASE_REPLICA_MAX_LAG_MS: '50000' };
  const proxies = [];
  const postgresProxies = [];
  const servers = [];
  for (let index = 0; index < instances; index += 1) {
    const proxy = await TcpProxy.start('127.0.0.1', redis.port);
    proxies.push(proxy);
    // Each instance reaches Postgres through a proxy too, for the postgres-down and postgres-slow faults.
    const postgres = await proxyInFront(databaseUrl, 5432);
    postgresProxies.push(postgres.proxy);
    servers.push(
      new ServerProcess(builtApp(app), {
        port: await freePort(),
        env: isolatedEnv(schema, proxy.port, { LOG_LEVEL: 'error', DATABASE_URL: postgres.url, ...replicaEnv }),
      }),
    );
  }
  // Write-behind under an evicting policy is down on purpose (it refuses writes): up is enough then.
  const ready = refusesEveryWrite(app) ? (status) => status === 503 || status === 200 : healthy;
  await Promise.all(servers.map((server) => server.waitFor('/health', { ready })));
  return {
    urls: servers.map((server) => server.url),
    schema,
    databaseUrl,
    pair,
    redis,
    proxies,
    postgresProxies,
    /** Instances whose process ended during the run, with the end of what they printed. */
    exited: () =>
      servers.flatMap((server, index) =>
        server.child.exitCode === null && server.child.signalCode === null
          ? []
          : [
              `instance ${index + 1} exited (${server.child.exitCode ?? server.child.signalCode}):\n${server.output().slice(-3000)}`,
            ],
      ),
    async tearDown() {
      for (const proxy of postgresProxies) proxy.restore();
      await Promise.all(servers.map((server) => server.stop()));
      for (const proxy of [...proxies, ...postgresProxies]) await proxy.close();
      await redis.remove();
      if (pair !== null) return pair.remove();
      const db = new pg.Client({ connectionString: DATABASE_URL });
      await db.connect();
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.end();
    },
  };
}

/** The faults, spread over the run: `done` when all are over, a line each for the report, the partition's window. */
function scheduleFaults(faults, deployment, seconds, t0) {
  const timeline = [];
  const runs = [];
  const result = { timeline };
  const at = (fraction) => sleep(Math.max(0, t0 + fraction * seconds * 1000 - performance.now()));
  if (faults.includes('partition')) {
    runs.push(
      (async () => {
        await at(0.2);
        const from = performance.now();
        deployment.proxies[0].disconnect();
        await at(0.45);
        deployment.proxies[0].restore();
        result.partition = { from, to: performance.now() };
        timeline.push(
          `partition: instance 1 cut off from Redis ${ms((from - t0) / 1000)}–${ms((performance.now() - t0) / 1000)} s`,
        );
      })(),
    );
  }
  if (faults.includes('postgres-down')) {
    runs.push(
      (async () => {
        await at(0.1);
        const from = performance.now();
        for (const proxy of deployment.postgresProxies) proxy.disconnect();
        await at(0.3);
        for (const proxy of deployment.postgresProxies) proxy.restore();
        timeline.push(
          `postgres-down: every instance cut off from Postgres ${ms((from - t0) / 1000)}–${ms((performance.now() - t0) / 1000)} s`,
        );
      })(),
    );
  }
  if (faults.includes('postgres-slow')) {
    runs.push(
      (async () => {
        await at(0.5);
        const from = performance.now();
        for (const proxy of deployment.postgresProxies) proxy.delay(POSTGRES_SLOW_MS);
        await at(0.7);
        for (const proxy of deployment.postgresProxies) proxy.delay(0);
        timeline.push(
          `postgres-slow: every packet to and from Postgres ${POSTGRES_SLOW_MS} ms late ${ms((from - t0) / 1000)}–${ms((performance.now() - t0) / 1000)} s`,
        );
      })(),
    );
  }
  if (faults.includes('replica-lag')) {
    if (deployment.pair === null) throw new Error('the replica-lag fault needs --replica');
    runs.push(
      (async () => {
        const replica = new pg.Client({ connectionString: deployment.pair.url('caching_patterns', 'replica') });
        await replica.connect();
        try {
          for (const [from, to] of [
            [0.15, 0.35],
            [0.55, 0.75],
          ]) {
            await at(from);
            const started = performance.now();
            await replica.query('SELECT pg_wal_replay_pause()');
            await at(to);
            await replica.query('SELECT pg_wal_replay_resume()');
            timeline.push(
              `replica-lag: replay paused ${ms((started - t0) / 1000)}–${ms((performance.now() - t0) / 1000)} s`,
            );
          }
        } finally {
          await replica.end();
        }
      })(),
    );
  }
  if (faults.includes('redis-restart')) {
    runs.push(
      (async () => {
        await at(0.6);
        const from = performance.now();
        await deployment.redis.stop('SIGTERM');
        await sleep(500);
        await deployment.redis.launch();
        timeline.push(
          `redis-restart: at ${ms((from - t0) / 1000)} s, down ${ms(performance.now() - from)} ms, back from its AOF`,
        );
      })(),
    );
  }
  result.done = Promise.all(runs);
  return result;
}

/** Write-behind accepts nothing under a policy that may evict keys without a TTL. */
function refusesEveryWrite(app) {
  return app === 'write-behind' && args.maxmemory !== undefined && (args.policy ?? '').startsWith('allkeys-');
}

/** Keeps the audit's Redis at its memory limit: 16 KB keys without a TTL, written until the run ends. */
function fillRedis(port, until) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  const value = 'x'.repeat(16 * 1024);
  return (async () => {
    for (let n = 0; performance.now() < until; n += 1) {
      socket.write(`*3\r\n$3\r\nSET\r\n$${String(n).length + 7}\r\nfiller:${n}\r\n$${value.length}\r\n${value}\r\n`);
      await sleep(2);
    }
    socket.end();
  })();
}

/** `evicted_keys` of the audit's Redis. */
function evictedKeys(port) {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n'));
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString();
      const match = /evicted_keys:(\d+)/.exec(text);
      if (match) {
        socket.end();
        done(Number(match[1]));
      }
    });
    socket.on('error', () => done(null));
  });
}

/** The grace copies answered (Postgres failing or slow): how many, and how old (the `Age` header). */
function staleAnswers(reads) {
  const stale = reads.filter((read) => read.status === 200 && read.stale);
  const ages = stale
    .map((read) => read.age)
    .filter((age) => Number.isFinite(age))
    .sort((a, b) => a - b);
  return `  grace copies answered (stale-if-error, soft timeout): ${stale.length}, age s: p50 ${ms(percentile(ages, 50))}, max ${ms(percentile(ages, 100))}`;
}

async function audit(app) {
  const seconds = Number(args.seconds);
  const keyCount = Number(args.keys);
  const readerCount = Number(args.readers);
  const faults = args.faults.split(',').filter(Boolean);
  for (const fault of faults) {
    if (!FAULTS.includes(fault)) throw new Error(`unknown fault: ${fault} (one of ${FAULTS.join(', ')})`);
  }
  if (args.url !== undefined && faults.length > 0)
    throw new Error('--faults needs the audit to start the apps: drop --url');
  const deployment =
    args.url === undefined
      ? await deploy(app, Number(args.instances))
      : { urls: args.url.split(','), schema: args.schema ?? app.replace(/-/g, '_'), tearDown: async () => {} };
  const { urls } = deployment;
  try {
    if (refusesEveryWrite(app)) return await auditRefusal(app, urls);
    // The hot keys, made through the first instance.
    const keys = [];
    for (let index = 0; index < keyCount; index += 1) {
      const created = await request(urls[0], 'POST', '/users', {
        name: 'audit',
        email: `audit-${process.pid}-${Date.now()}-${index}@example.test`,
        age: 30,
      });
      if (created.status !== 201) throw new Error(`could not create a user: ${created.status}`);
      keys.push({ id: created.body.id, writes: [{ version: created.version, ended: created.ended, instance: 0 }] });
    }
    const writes = [];
    const reads = [];
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    const faultRun = deployment.proxies === undefined ? null : scheduleFaults(faults, deployment, seconds, t0);
    const filler = args.maxmemory === undefined ? null : fillRedis(deployment.redis.port, deadline);
    const writer = async (key) => {
      for (let n = 1; performance.now() < deadline; n += 1) {
        const instance = random(urls.length);
        const answer = await request(urls[instance], 'PATCH', `/users/${key.id}`, { name: `write ${n}` });
        const write = { key: key.id, instance, ...answer, acknowledged: answer.status === 200 };
        writes.push(write);
        if (write.acknowledged) key.writes.push({ version: answer.version, ended: answer.ended, instance });
        await sleep(5 + random(20));
      }
    };
    const reader = async () => {
      while (performance.now() < deadline) {
        const key = keys[random(keys.length)];
        const instance = random(urls.length);
        reads.push({ key, instance, ...(await request(urls[instance], 'GET', `/users/${key.id}`)) });
      }
    };
    await Promise.all([...keys.map(writer), ...Array.from({ length: readerCount }, reader)]);
    await faultRun?.done;
    await filler;

    // Every read that answered: was a newer write acknowledged before it started?
    let sameInstance = 0;
    let crossInstance = 0;
    let missing = 0;
    const staleness = [];
    for (const read of reads) {
      if (read.status === 404) missing += 1;
      if (read.status !== 200 || read.version === null) continue;
      const newer = read.key.writes.filter((write) => write.ended < read.started && write.version > read.version);
      if (newer.length === 0) continue;
      if (newer.some((write) => write.instance === read.instance)) sameInstance += 1;
      else {
        crossInstance += 1;
        if (process.env.AUDIT_DEBUG)
          console.log(
            'stale',
            read.key.id,
            'v',
            read.version,
            'inst',
            read.instance,
            Math.round(read.started - t0),
            read.cacheStatus,
            'newer',
            newer.map((w) => `${w.version}@${w.instance}:${Math.round(w.ended - t0)}`).join(' '),
          );
        staleness.push(read.started - Math.min(...newer.map((write) => write.ended)));
      }
    }
    staleness.sort((a, b) => a - b);
    if (process.env.AUDIT_DEBUG) {
      const bySecond = new Map();
      for (const read of reads) {
        const second = Math.floor((read.started - t0) / 1000);
        const row = bySecond.get(second) ?? { ok: 0, failed: 0, stale: 0, ms: 0 };
        if (read.status === 200) row.ok += 1;
        else row.failed += 1;
        if (read.stale) row.stale += 1;
        row.ms = Math.max(row.ms, read.ended - read.started);
        bySecond.set(second, row);
      }
      for (const [second, row] of [...bySecond].sort(([a], [b]) => a - b)) console.log(second, JSON.stringify(row));
    }
    const acknowledged = writes.filter((write) => write.acknowledged).length;
    const report = [
      `audit: ${app}, ${urls.length} instance(s), ${seconds} s, faults: ${faults.join(', ') || 'none'}`,
      ...(faultRun?.timeline ?? []).map((line) => `  ${line}`),
      ...(args.maxmemory === undefined
        ? []
        : [
            `  Redis at maxmemory ${args.maxmemory}, ${args.policy ?? 'noeviction'}, kept full: evicted_keys ${await evictedKeys(deployment.redis.port)}`,
          ]),
      `  reads: ${reads.length} (${byStatus(reads)})`,
      `  writes: ${writes.length} (${byStatus(writes)}; acknowledged: ${acknowledged})`,
      `  stale reads after acknowledgement: ${sameInstance + crossInstance} (same instance: ${sameInstance}, cross-instance: ${crossInstance})`,
      staleAnswers(reads),
      `  cross-instance staleness, ms past the acknowledgement: p50 ${ms(percentile(staleness, 50))}, p99 ${ms(percentile(staleness, 99))}, max ${ms(percentile(staleness, 100))}`,
    ];
    if (deployment.pair) {
      const loads = { fromReplica: 0, fromPrimary: 0, refusedReplicaRows: 0 };
      for (const url of urls) {
        const stats = await request(url, 'GET', '/stats');
        for (const name of Object.keys(loads)) loads[name] += Number(stats.body?.replicas?.[name] ?? 0);
      }
      report.push(
        `  loads after a miss: ${loads.fromReplica} from the replica, ${loads.fromPrimary} from the primary; replica rows refused as too old: ${loads.refusedReplicaRows}`,
      );
    }
    if (faultRun?.partition !== undefined) {
      const { from, to } = faultRun.partition;
      const cut = writes
        .filter((write) => write.acknowledged && write.instance === 0 && write.started >= from && write.started < to)
        .map((write) => write.ended - write.started)
        .sort((a, b) => a - b);
      report.push(
        `  writes through instance 1 while it was cut off: ${cut.length}, answer time ms: p50 ${ms(percentile(cut, 50))}, p99 ${ms(percentile(cut, 99))}, max ${ms(percentile(cut, 100))}`,
      );
    }
    let lost = 0;
    if (app === 'write-behind') {
      lost = await checkFlushed(urls[0], deployment.databaseUrl ?? DATABASE_URL, deployment.schema, keys, writes);
      report.push(
        `  Postgres after the flush: ${keys.length - lost} of ${keys.length} keys at their last acknowledged version (or a later unacknowledged one)`,
      );
    }
    const exited = deployment.exited?.() ?? [];
    for (const line of exited) report.push(`  ${line}`);
    console.log(report.join('\n'));
    return sameInstance === 0 && missing === 0 && lost === 0 && exited.length === 0;
  } finally {
    await deployment.tearDown();
  }
}

/** Write-behind under an evicting policy: every write must be refused with 503 `not-applied`, and nothing kept. */
async function auditRefusal(app, urls) {
  const answers = [];
  for (const url of urls) {
    answers.push(
      await request(url, 'POST', '/users', { name: 'audit', email: `audit-${Date.now()}@example.test`, age: 30 }),
    );
  }
  const refused = answers.filter((answer) => answer.status === 503 && answer.body?.outcome === 'not-applied');
  console.log(
    [
      `audit: ${app}, ${urls.length} instance(s), Redis at maxmemory ${args.maxmemory}, ${args.policy}`,
      `  writes: ${answers.length} (${byStatus(answers)}): refused as it must be under ${args.policy}: ${refused.length === answers.length ? 'yes' : 'NO'}`,
    ].join('\n'),
  );
  return refused.length === answers.length;
}

/** Write-behind: waits for the flush, then compares each key's row with its last acknowledged version. */
async function checkFlushed(url, databaseUrl, schema, keys, writes) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const stats = await request(url, 'GET', '/stats');
    if (stats.status === 200 && stats.body.pendingWrites === 0) break;
    await sleep(250);
  }
  const db = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await db.connect();
  try {
    const { rows } = await db.query('SELECT id, version FROM users WHERE id = ANY($1::int[])', [
      keys.map((key) => key.id),
    ]);
    const inPostgres = new Map(rows.map((row) => [row.id, row.version]));
    let lost = 0;
    for (const key of keys) {
      const last = Math.max(...key.writes.map((write) => write.version));
      const unknown = writes.some((write) => write.key === key.id && !write.acknowledged);
      const version = inPostgres.get(key.id);
      if (!(version === last || (unknown && version > last))) {
        lost += 1;
        console.log(`  key ${key.id}: Postgres at version ${version}, last acknowledged ${last}`);
      }
    }
    return lost;
  } finally {
    await db.end();
  }
}

const apps = args.app === 'all' ? PATTERNS : [args.app];
for (const app of apps)
  if (!PATTERNS.includes(app)) throw new Error(`--app must be one of ${PATTERNS.join(', ')} or all`);
if (args.url === undefined && !args['no-build']) build();
let ok = true;
for (const app of apps) ok = (await audit(app)) && ok;
process.exit(ok ? 0 : 1);
