#!/usr/bin/env node
// `npm run bench [-- --quick]` (`-- --report` rewrites results.md and results.svg from results.json): the five patterns, a no-cache baseline and bare reference servers, measured
// side by side on this machine against local Postgres and Redis. Load comes from autocannon in this process;
// every server runs in its own child process. Writes bench/results/results.{md,svg,json}.
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';

const quick = process.argv.includes('--quick');
const root = resolve(import.meta.dirname, '..');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://localhost:6379';
const DURATION = quick ? 1.5 : 10;
const WARMUP = quick ? 1 : 3;
const CONNECTIONS = 32;
const USERS = 10_000;
const ZIPF_S = 0.99;
const ADAPTERS = ['express', 'fastify'];
const APPS = quick
  ? ['no-cache', 'cache-aside', 'write-through', 'write-behind']
  : ['no-cache', 'cache-aside', 'read-through', 'write-through', 'write-behind', 'refresh-ahead'];
const CLEARABLE = new Set(['cache-aside', 'read-through', 'write-through', 'refresh-ahead']);

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const results = [];
const started = Date.now();
let step = 0;
const progress = (message) => {
  step += 1;
  const elapsed = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write(`[bench ${elapsed}s #${step}] ${message}\n`);
};

// ---------- load shapes ----------

/** Zipf(s) over ranks 1..n by inverse CDF: rank 1 is the hottest. */
function zipfSampler(n, s) {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k += 1) cdf[k - 1] = total += 1 / k ** s;
  return () => {
    const target = Math.random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cdf[middle] < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

function requestMix(ids, readShare, pick) {
  return [
    {
      setupRequest: (request) => {
        const id = ids[pick()];
        if (Math.random() < readShare) return { ...request, method: 'GET', path: `/users/${id}`, body: undefined };
        return {
          ...request,
          method: 'PATCH',
          path: `/users/${id}`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ age: Math.floor(Math.random() * 150) }),
        };
      },
    },
  ];
}

function load(port, requests, seconds, extra = {}) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests,
    ...extra,
  });
}

// ---------- servers ----------

function startProcess(script, env) {
  const child = spawn(process.execPath, [script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  child.output = () => output;
  return child;
}

async function waitForHttp(port, path, child) {
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) throw new Error(`server on ${port} exited:\n${child.output()}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`server on ${port} did not start:\n${child.output()}`);
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const appPort = (() => {
  let next = 8200;
  return () => (next += 1);
})();

// ---------- measurements ----------

const db = new pg.Client({ connectionString: DATABASE_URL });
const redis = new Redis(REDIS_URL);

async function transactions() {
  await sleep(600); // Postgres publishes backend counters with a short delay
  const result = await db.query(
    'SELECT xact_commit + xact_rollback AS total FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(result.rows[0].total);
}

async function stats(port) {
  const response = await fetch(`http://127.0.0.1:${port}/stats`);
  return response.ok ? response.json() : null;
}

function hitRatio(before, after) {
  if (!before || !after) return null;
  const hits = after.hits - before.hits;
  const reads = hits + (after.misses - before.misses) + (after.bypasses - before.bypasses);
  return reads === 0 ? null : hits / reads;
}

function percentile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function measure({ server, adapter, workload, port, requests, warmup = true, pattern, extra }) {
  progress(`${server}${adapter ? ` on ${adapter}` : ''}: ${workload}`);
  if (warmup) await load(port, requests, WARMUP, extra);
  const before = pattern ? await stats(port) : null;
  const xactBefore = await transactions();
  const lag = [];
  let sampling = pattern === 'write-behind';
  const sampler = (async () => {
    while (sampling) {
      const current = await stats(port).catch(() => null);
      if (current?.oldestPendingMs !== undefined) lag.push(current.oldestPendingMs ?? 0);
      await sleep(50);
    }
  })();
  const result = await load(port, requests, DURATION, extra);
  sampling = false;
  await sampler;
  const xactAfter = await transactions();
  const after = pattern ? await stats(port) : null;
  const row = {
    server,
    adapter: adapter ?? '-',
    workload,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    hitRatio: hitRatio(before, after),
    pgQps: Math.round((xactAfter - xactBefore) / (DURATION + 0.6)),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    flushLagP99Ms: pattern === 'write-behind' ? percentile(lag, 0.99) : null,
  };
  results.push(row);
  return row;
}

// ---------- data ----------

async function seed(schema) {
  const client = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
  await client.connect();
  await client.query(
    `INSERT INTO users (name, email, age)
     SELECT 'Bench User ' || g, 'bench' || g || '@example.test', 20 + g % 50 FROM generate_series(1, $1) g
     ON CONFLICT DO NOTHING`,
    [USERS],
  );
  const ids = (await client.query('SELECT id FROM users ORDER BY id LIMIT $1', [USERS])).rows.map((row) => row.id);
  await client.end();
  return ids;
}

// ---------- runs ----------

async function referenceServers(ids, zipf) {
  const reads = requestMix(ids, 1, zipf);
  const pipeline = redis.pipeline();
  for (const id of ids)
    pipeline.set(
      `bench:ref:${id}`,
      JSON.stringify({ id, name: `Bench User ${id}`, email: `bench${id}@example.test`, age: 30 }),
    );
  await pipeline.exec();
  const references = [
    ['node:http + Redis', 'bench/reference/node-redis.mjs', {}],
    ['node:http + Postgres', 'bench/reference/node-postgres.mjs', { DATABASE_SCHEMA: 'bench_reference' }],
    ...ADAPTERS.map((adapter) => [
      `Nest route + Redis`,
      'bench/reference/nest-redis.mjs',
      { HTTP_ADAPTER: adapter },
      adapter,
    ]),
  ];
  for (const [name, script, env, adapter] of references) {
    const port = appPort();
    const child = startProcess(script, {
      ...env,
      PORT: String(port),
      DATABASE_URL,
      REDIS_URL,
      KEY_PREFIX: 'bench:ref:',
    });
    try {
      await waitForHttp(port, `/users/${ids[0]}`, child);
      await measure({ server: name, adapter, workload: 'read-heavy (hits only)', port, requests: reads });
    } finally {
      await stop(child);
    }
  }
}

function appEnv(app, adapter, port, extra = {}) {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    HTTP_ADAPTER: adapter,
    DATABASE_URL,
    REDIS_URL,
    DATABASE_SCHEMA: `bench_${app.replace(/-/g, '_')}`,
    REDIS_KEY_PREFIX: `bench:${app}:`,
    LOG_LEVEL: 'error',
    SWAGGER_ENABLED: 'false',
    ...extra,
  };
}

async function patternApp(app, adapter, zipf) {
  const port = appPort();
  const child = startProcess(`dist/apps/${app}/src/main.js`, appEnv(app, adapter, port));
  try {
    await waitForHttp(port, '/health', child);
    const ids = await seed(`bench_${app.replace(/-/g, '_')}`);
    const readHeavy = requestMix(ids, 0.95, zipf);
    const writeHeavy = requestMix(ids, 0.5, zipf);
    if (CLEARABLE.has(app) && !quick) {
      await fetch(`http://127.0.0.1:${port}/cache/clear`, { method: 'POST' });
      await measure({
        server: app,
        adapter,
        workload: 'cold start (95% reads)',
        port,
        requests: readHeavy,
        warmup: false,
        pattern: app,
      });
    }
    if (app !== 'no-cache') {
      await measure({
        server: app,
        adapter,
        workload: 'hits only (100% reads, warm)',
        port,
        requests: requestMix(ids, 1, zipf),
        pattern: app,
      });
    }
    await measure({
      server: app,
      adapter,
      workload: 'read-heavy (95% reads)',
      port,
      requests: readHeavy,
      pattern: app,
    });
    await measure({
      server: app,
      adapter,
      workload: 'write-heavy (50% writes)',
      port,
      requests: writeHeavy,
      pattern: app,
    });
    if (app === 'write-through' || app === 'write-behind') {
      await measure({
        server: app,
        adapter,
        workload: 'writes only (100% writes)',
        port,
        requests: requestMix(ids, 0, zipf),
        pattern: app,
      });
    }
    if (app === 'write-behind') await fetch(`http://127.0.0.1:${port}/flush?wait=true`, { method: 'POST' });
  } finally {
    await stop(child);
  }
}

/** Write-behind on its own terms: accepted writes/s, flush throughput, flush lag at a fixed 1,000 writes/s. */
async function writeBehindDetails(zipf) {
  const uniform = () => Math.floor(Math.random() * USERS);
  const details = {};
  {
    const port = appPort();
    const child = startProcess(
      'dist/apps/write-behind/src/main.js',
      appEnv('write-behind', 'fastify', port, {
        WRITE_BEHIND_BATCH_DELAY_MS: '600000',
        WRITE_BEHIND_FLUSH_INTERVAL_MS: '600000',
      }),
    );
    try {
      await waitForHttp(port, '/health', child);
      const ids = await seed('bench_write_behind');
      await fetch(`http://127.0.0.1:${port}/flush?wait=true`, { method: 'POST' });
      progress('write-behind: flush throughput (writes held, then one flush)');
      await load(port, requestMix(ids, 0, uniform), quick ? 2 : 5);
      const before = await stats(port);
      const flushStarted = performance.now();
      await fetch(`http://127.0.0.1:${port}/flush?wait=true`, { method: 'POST' });
      const seconds = (performance.now() - flushStarted) / 1000;
      const after = await stats(port);
      const rows = after.flushedRows - before.flushedRows;
      details.flushRows = rows;
      details.flushSeconds = Math.round(seconds * 1000) / 1000;
      details.flushRowsPerSecond = Math.round(rows / seconds);
    } finally {
      await stop(child);
    }
  }
  {
    const port = appPort();
    const child = startProcess('dist/apps/write-behind/src/main.js', appEnv('write-behind', 'fastify', port));
    try {
      await waitForHttp(port, '/health', child);
      const ids = await seed('bench_write_behind');
      const row = await measure({
        server: 'write-behind',
        adapter: 'fastify',
        workload: 'writes at a fixed 1,000/s',
        port,
        requests: requestMix(ids, 0, zipf),
        warmup: false,
        pattern: 'write-behind',
        extra: { overallRate: 1000 },
      });
      details.lagP99Ms = row.flushLagP99Ms;
    } finally {
      await stop(child);
    }
  }
  return details;
}

// ---------- report ----------

function best(server, adapter, workload) {
  return results.find((row) => row.server === server && row.adapter === adapter && row.workload.startsWith(workload));
}

function ratio(a, b) {
  return a && b && b.rps > 0 ? a.rps / b.rps : null;
}

function targets(details) {
  const lines = [];
  const check = (label, value, goal, format = (v) => `${(v * 100).toFixed(0)}%`) =>
    lines.push(
      `| ${label} | ${value === null ? 'n/a' : format(value)} | ${format(goal)} | ${value === null ? '-' : value >= goal ? 'met' : 'not met'} |`,
    );
  check(
    'cache-aside hits on Fastify vs bare node:http + Redis',
    ratio(best('cache-aside', 'fastify', 'hits only'), best('node:http + Redis', '-', 'read-heavy')),
    0.6,
  );
  check(
    'cache-aside hits on Express vs bare Nest-on-Express + Redis',
    ratio(best('cache-aside', 'express', 'hits only'), best('Nest route + Redis', 'express', 'read-heavy')),
    0.85,
  );
  check(
    'cache-aside hits vs no-cache baseline reads, Fastify',
    ratio(best('cache-aside', 'fastify', 'hits only'), best('no-cache', 'fastify', 'read-heavy')),
    2.5,
    (v) => `${v.toFixed(2)}×`,
  );
  check(
    'write-behind vs write-through accepted writes/s, Fastify',
    ratio(best('write-behind', 'fastify', 'writes only'), best('write-through', 'fastify', 'writes only')),
    3,
    (v) => `${v.toFixed(2)}×`,
  );
  if (details.flushRowsPerSecond !== undefined) {
    lines.push(
      `| write-behind flush throughput (rows/s) | ${details.flushRowsPerSecond} | 10000 | ${details.flushRowsPerSecond >= 10_000 ? 'met' : 'not met'} |`,
    );
  }
  if (details.lagP99Ms !== undefined && details.lagP99Ms !== null) {
    lines.push(
      `| write-behind p99 flush lag at 1,000 writes/s (ms) | ${details.lagP99Ms} | < 2000 | ${details.lagP99Ms < 2000 ? 'met' : 'not met'} |`,
    );
  }
  return lines;
}

function svg() {
  const rows = results.filter((row) => row.workload.startsWith('read-heavy') || row.workload.startsWith('hits only'));
  const width = 860;
  const barHeight = 22;
  const left = 330;
  const max = Math.max(...rows.map((row) => row.rps), 1);
  const bars = rows
    .map((row, index) => {
      const y = 40 + index * (barHeight + 6);
      const length = Math.max(1, Math.round(((width - left - 90) * row.rps) / max));
      const kind = row.workload.startsWith('hits')
        ? 'hits only'
        : row.server.startsWith('n') && row.adapter === '-'
          ? ''
          : '95% reads';
      const label = [row.server, [row.adapter === '-' ? '' : row.adapter, kind].filter(Boolean).join(', ')]
        .filter(Boolean)
        .join(' — ');
      const color =
        row.server.startsWith('node:') || row.server.startsWith('Nest route')
          ? '#888'
          : row.server === 'no-cache'
            ? '#c55'
            : '#36c';
      return `<text x="${left - 8}" y="${y + 16}" text-anchor="end" font-size="13">${label}</text><rect x="${left}" y="${y}" width="${length}" height="${barHeight}" fill="${color}"/><text x="${left + length + 6}" y="${y + 16}" font-size="13">${row.rps}</text>`;
    })
    .join('\n');
  const height = 60 + rows.length * (barHeight + 6);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="22" font-size="15" font-weight="bold">Reads (Zipf ${ZIPF_S} over ${USERS} users): requests/s, ${CONNECTIONS} connections; grey = references, red = no cache</text>
${bars}
</svg>
`;
}

async function machine() {
  const postgres = (await db.query('SHOW server_version')).rows[0].server_version;
  const info = await redis.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1];
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, PostgreSQL ${postgres}, Redis ${redisVersion}`;
}

function markdown(details, machineLine, quickRun = quick, date = new Date().toISOString().slice(0, 10)) {
  const format = (value, digits = 0) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const table = results.map(
    (row) =>
      `| ${row.server} | ${row.adapter} | ${row.workload} | ${row.rps} | ${format(row.p50)} | ${format(row.p99)} | ${row.hitRatio === null ? '-' : format(row.hitRatio, 3)} | ${row.pgQps} | ${row.flushLagP99Ms ?? '-'} | ${row.non2xx + row.errors} |`,
  );
  return `# Benchmark results

\`npm run bench${quickRun ? ' -- --quick' : ''}\` on ${date}. Machine: ${machineLine}.
Load: autocannon, ${CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s measured, in a separate process from each
server; reads pick ids from a Zipf distribution (s = ${ZIPF_S}) over ${USERS} users; writes are \`PATCH {age}\`.
Load generator, servers, Postgres and Redis all share this machine's cores, so absolute numbers are low and
ratios measured in the same run are what to compare. Postgres q/s is from \`pg_stat_database\` (transactions).

| server | adapter | workload | req/s | p50 ms | p99 ms | hit ratio | Postgres q/s | flush lag p99 ms | non-2xx + errors |
|---|---|---|---|---|---|---|---|---|---|
${table.join('\n')}

## Targets

| target | measured | goal | |
|---|---|---|---|
${targets(details).join('\n')}

Write-behind flush: ${details.flushRows ?? '-'} rows written in ${details.flushSeconds ?? '-'} s (${details.flushRowsPerSecond ?? '-'} rows/s), with writes held back and then flushed at once.
`;
}

// ---------- main ----------

if (process.argv.includes('--report')) {
  const saved = JSON.parse(readFileSync(join(root, 'bench/results/results.json'), 'utf8'));
  results.push(...saved.results);
  writeFileSync(
    join(root, 'bench/results/results.md'),
    markdown(saved.details, saved.machine, saved.quick, saved.date),
  );
  writeFileSync(join(root, 'bench/results/results.svg'), svg());
  process.exit(0);
}

try {
  progress('building');
  if (
    spawnSync(process.execPath, [join(root, 'node_modules/@nestjs/cli/bin/nest.js'), 'build'], {
      cwd: root,
      stdio: 'inherit',
    }).status !== 0
  ) {
    throw new Error('build failed');
  }
  await db.connect();
  const zipf = zipfSampler(USERS, ZIPF_S);
  {
    // The Postgres reference reads the same table shape, in a schema of its own (created by a short app start).
    const port = appPort();
    const child = startProcess(
      'dist/apps/no-cache/src/main.js',
      appEnv('reference', 'express', port, { DATABASE_SCHEMA: 'bench_reference' }),
    );
    await waitForHttp(port, '/health', child);
    await stop(child);
  }
  const referenceIds = await seed('bench_reference');
  await referenceServers(referenceIds, zipf);
  for (const app of APPS) for (const adapter of ADAPTERS) await patternApp(app, adapter, zipf);
  const details = await writeBehindDetails(zipf);
  const machineLine = await machine();
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(
    join(root, 'bench/results/results.json'),
    JSON.stringify(
      { quick, date: new Date().toISOString().slice(0, 10), machine: machineLine, results, details },
      null,
      2,
    ),
  );
  writeFileSync(join(root, 'bench/results/results.md'), markdown(details, machineLine));
  writeFileSync(join(root, 'bench/results/results.svg'), svg());
  process.stdout.write(
    `\n${markdown(details, machineLine)}\nWritten to bench/results/ in ${((Date.now() - started) / 1000).toFixed(0)} s.\n`,
  );
} finally {
  await db.end().catch(() => undefined);
  redis.disconnect();
}
