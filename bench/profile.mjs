#!/usr/bin/env node
// `npm run bench:profile [-- express|fastify] [-- <app>] [-- writes] [-- allocations]`: where the time of a warm
// cache hit (or, with `writes`, of a PATCH after every user was read once) goes; with `allocations`, where the
// bytes it allocates come from (V8's sampling heap profiler, collected objects included: what the GC pays for). Starts a built
// pattern app (cache-aside on Express by default) under the V8 CPU profiler, reads every user once so that every
// read hits, then profiles PROFILE_SECONDS (10) s of Zipf reads over 10,000 users at 32 connections and prints
// the app process's CPU time per request by part (Express or Fastify, Nest, our HTTP layer, the cache call,
// ioredis, Node's HTTP and sockets, GC), and the functions that cost most. The profile is left in
// bench/results/profile/ for Chrome DevTools or speedscope.
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { root } from '../scripts/lib/server-process.mjs';
import { load, readEach, requestMix, stats, zipfSampler } from './lib/load.mjs';
import { schemaName, seedUsers, startApp } from './lib/servers.mjs';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://localhost:6379';
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10);
const args = process.argv.slice(2);
const adapter = args.includes('fastify') ? 'fastify' : 'express';
const writes = args.includes('writes');
const allocations = args.includes('allocations');
const app = args.find((arg) => !['express', 'fastify', 'writes', 'allocations'].includes(arg)) ?? 'cache-aside';

const NODE_MODULE = /node_modules\/((?:@[^/]+\/)?[^/]+)\//;

/** Packages by the part of a request they serve. */
const PACKAGES = [
  [
    'Express 5 (router, req/res helpers)',
    /^(express|router|send|finalhandler|path-to-regexp|content-type|mime-types|mime-db|accepts|negotiator|type-is|media-typer|fresh|etag|vary|on-finished|parseurl|qs|body-parser|raw-body|depd|debug|ms|cookie|proxy-addr|forwarded|ipaddr\.js|range-parser|statuses|encodeurl|escape-html|http-errors|setprototypeof|toidentifier|iconv-lite|safer-buffer|unpipe|ee-first|serve-static|content-disposition|cookie-signature|merge-descriptors|once|wrappy|is-promise|math-intrinsics|es-errors|side-channel.*|call-bind.*|get-intrinsic|object-inspect|dunder-proto|gopd|has-symbols|hasown|function-bind|es-object-atoms|get-proto)$/,
  ],
  [
    'Fastify (router, request/reply)',
    /^(fastify|@fastify\/.*|find-my-way|avvio|fast-.*|light-my-request|abstract-logging|toad-cache|rfdc|process-warning|secure-json-parse|safe-regex2|ret|json-schema-ref-resolver|content-type)$/,
  ],
  ['Nest core (routing, execution context, pipes/guards/interceptors)', /^@nestjs\/core$/],
  ['Nest platform adapter', /^@nestjs\/platform-(express|fastify)$/],
  ['Nest common (ValidationPipe, Logger)', /^@nestjs\/common$/],
  ['class-validator / class-transformer', /^class-(validator|transformer)$/],
  ['rxjs', /^rxjs$/],
  [
    'ioredis',
    /^(ioredis|@ioredis\/.*|redis-errors|redis-parser|standard-as-callback|cluster-key-slot|denque|lodash\..*)$/,
  ],
  ['prom-client (request metrics)', /^(prom-client|tdigest|bintrees)$/],
  ['cockatiel (read breaker)', /^cockatiel$/],
];

function category({ url, functionName }) {
  if (url === '') {
    if (functionName === '(idle)') return null;
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(program)') return 'V8 and native (program)';
    return 'built-ins (JSON, Map, Promise...)';
  }
  const module = NODE_MODULE.exec(url)?.[1];
  if (module !== undefined) {
    for (const [name, pattern] of PACKAGES) if (pattern.test(module)) return name;
    return `other packages (${module})`;
  }
  if (url.includes('/dist/libs/cache-core/')) return 'ours: the cache call (cache-core)';
  if (url.includes('/dist/libs/users/')) return 'ours: users controller and service';
  if (url.includes('/dist/libs/common/') || url.includes('/dist/libs/app-shell/'))
    return 'ours: HTTP layer (guards, pipes, filter, request hooks)';
  if (/^node:(_http|http|internal\/http)/.test(url)) return 'Node: HTTP parser and server';
  if (/^node:(net|stream|internal\/(streams|stream_base|net|dns))/.test(url)) return 'Node: sockets and streams';
  if (/^node:internal\/(timers|process\/task_queues|async_hooks)|^node:(timers|async_hooks)/.test(url))
    return 'Node: timers, microtasks, async context';
  if (url.startsWith('node:')) return 'Node: other';
  return `other (${basename(url)})`;
}

/** A function as the tables show it: its name, and where it is (package or dist path, line). */
function functionName({ url, functionName: name, lineNumber }) {
  const where =
    url === '' ? '' : ` (${url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${lineNumber + 1})`;
  return `${name || '(anonymous)'}${where}`;
}

/** Self time per node, in µs, from the samples and their time deltas. */
function selfTimes(profile) {
  const self = new Map();
  profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index + 1] ?? 0)));
  return self;
}

function summarize(profile, requests) {
  const self = selfTimes(profile);
  const byCategory = new Map();
  const byFunction = new Map();
  let busy = 0;
  for (const node of profile.nodes) {
    const time = self.get(node.id) ?? 0;
    const name = category(node.callFrame);
    if (name === null || time === 0) continue;
    busy += time;
    byCategory.set(name, (byCategory.get(name) ?? 0) + time);
    const fn = functionName(node.callFrame);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + time);
  }
  const perRequest = (time) => (time / requests).toFixed(1);
  const share = (time) => `${((100 * time) / busy).toFixed(1)}%`;
  console.log(`\n| part | µs of CPU per request | share |\n|---|---|---|`);
  for (const [name, time] of [...byCategory].sort((a, b) => b[1] - a[1]))
    console.log(`| ${name} | ${perRequest(time)} | ${share(time)} |`);
  console.log(`| **all (busy CPU of the app process)** | **${perRequest(busy)}** | 100% |`);
  console.log(`\nFunctions with the most self time:\n\n| function | µs per request | share |\n|---|---|---|`);
  for (const [name, time] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 20))
    console.log(`| \`${name}\` | ${perRequest(time)} | ${share(time)} |`);
}

/** Bytes allocated per request by part and by function, from a sampling heap profile. */
function summarizeAllocations(profile, requests) {
  const byCategory = new Map();
  const byFunction = new Map();
  let total = 0;
  const walk = (node) => {
    const bytes = node.selfSize;
    if (bytes > 0) {
      total += bytes;
      const name = category(node.callFrame) ?? 'V8 and native (program)';
      byCategory.set(name, (byCategory.get(name) ?? 0) + bytes);
      const fn = functionName(node.callFrame);
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + bytes);
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const perRequest = (bytes) => (bytes / requests).toFixed(0);
  const share = (bytes) => `${((100 * bytes) / total).toFixed(1)}%`;
  console.log(`\n| part | bytes allocated per request | share |\n|---|---|---|`);
  for (const [name, bytes] of [...byCategory].sort((a, b) => b[1] - a[1]))
    console.log(`| ${name} | ${perRequest(bytes)} | ${share(bytes)} |`);
  console.log(`| **all** | **${perRequest(total)}** | 100% |`);
  console.log(`\nFunctions that allocate most:\n\n| function | bytes per request | share |\n|---|---|---|`);
  for (const [name, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`| \`${name}\` | ${perRequest(bytes)} | ${share(bytes)} |`);
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function until(server, line) {
  for (let waited = 0; waited < 30_000; waited += 50) {
    if (server.output().includes(line)) return;
    await sleep(50);
  }
  throw new Error(`the profiler did not say "${line}":\n${server.output()}`);
}

const directory = join(root, 'bench/results/profile');
mkdirSync(directory, { recursive: true });
const file = join(
  directory,
  `${app}-${adapter}${writes ? '-writes' : ''}.${allocations ? 'heapprofile' : 'cpuprofile'}`,
);
const server = await startApp(app, adapter, {
  databaseUrl: DATABASE_URL,
  redisUrl: REDIS_URL,
  schemaOf: 'profile',
  env: { REDIS_CLUSTER_NODES: '', ...(allocations ? { PROFILE_ALLOCATIONS: 'true' } : {}) },
  profileTo: file,
});
try {
  const ids = await seedUsers(DATABASE_URL, schemaName('profile'));
  const reads = requestMix(ids, writes ? 0 : 1, zipfSampler(ids.length, 0.99));
  await readEach(server.port, ids);
  await load(server.port, reads, 2);
  const before = await stats(server.port);
  server.child.kill('SIGWINCH');
  await until(server, 'profiling');
  const result = await load(server.port, reads, SECONDS);
  server.child.kill('SIGWINCH');
  await until(server, 'profiled');
  const after = await stats(server.port);
  const requests = result.requests.total;
  console.log(
    `${app} on ${adapter}: ${Math.round(result.requests.average)} req/s over ${SECONDS} s, ${requests} requests, ` +
      `hits ${after.hits - before.hits}, misses ${after.misses - before.misses}, non-2xx ${result.non2xx}; ` +
      `profile: ${file.slice(root.length + 1)}`,
  );
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  if (allocations) summarizeAllocations(profile, requests);
  else summarize(profile, requests);
} finally {
  await server.stop();
}
