#!/usr/bin/env node
// `npm run demo:blog`: times the blog's reads the way the seed's test_performance.py did, and more.
// Uses the blog at BLOG_URL (default http://localhost:8000); when nothing answers there it starts the built
// app itself (which seeds 500,000 posts on first start) and stops it at the end. Timings are client-side,
// time to the last byte, over a keep-alive connection. Exits 1 only if the post it writes is missing from the
// list that follows; timing targets are printed, not enforced.
import { Agent, request } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { createGunzip } from 'node:zlib';
import { builtApp, healthy, ServerProcess } from './lib/server-process.mjs';

const base = new URL(process.env.BLOG_URL ?? 'http://localhost:8000');
const admin = process.env.ADMIN_TOKEN ? { Authorization: `Bearer ${process.env.ADMIN_TOKEN}` } : {};
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function call(method, path, { headers = {}, body } = {}) {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const outgoing = request(new URL(path, base), { method, agent, headers }, (response) => {
      const parts = [];
      response.on('data', (part) => parts.push(part));
      response.on('end', () =>
        done({
          status: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(parts),
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        }),
      );
      response.on('error', fail);
    });
    outgoing.on('error', fail);
    outgoing.end(body);
  });
}

async function answers() {
  try {
    return (await call('GET', '/health')).status === 200;
  } catch {
    return false;
  }
}

async function startBlog() {
  process.stdout.write(`Nothing answers on ${base.origin}: starting the built blog (first start seeds the posts)\n`);
  const startedAt = Date.now();
  const blog = new ServerProcess(builtApp('blog'), {
    port: Number(base.port || 80),
    // A blog this script starts is a local demo: its admin endpoints are open unless ADMIN_TOKEN is set.
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ADMIN_OPEN: process.env.ADMIN_TOKEN ? 'false' : 'true' },
    inherit: true,
  });
  await blog.waitFor('/health', { timeoutMs: 180_000, ready: healthy });
  process.stdout.write(`Blog up after ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  return blog;
}

const percentile = (values, p) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))];
const median = (values) => percentile(values, 0.5);
const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`);
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const GZIP = { 'Accept-Encoding': 'gzip' };

function expectOk(response, what) {
  if (response.status >= 300)
    throw new Error(`${what}: HTTP ${response.status} ${response.body.toString().slice(0, 200)}`);
  return response;
}

/** Searches the decompressed list for `needle` as it streams, without holding the list. */
function gzipContains(compressed, needle) {
  return new Promise((done, fail) => {
    const target = Buffer.from(needle);
    let carry = Buffer.alloc(0);
    let found = false;
    let bytes = 0;
    const gunzip = createGunzip();
    gunzip.on('data', (part) => {
      bytes += part.length;
      const window = Buffer.concat([carry, part]);
      if (!found && window.includes(target)) found = true;
      carry = window.subarray(Math.max(0, window.length - target.length + 1));
    });
    gunzip.on('end', () => done({ found, bytes }));
    gunzip.on('error', fail);
    gunzip.end(compressed);
  });
}

async function main() {
  const blog = (await answers()) ? undefined : await startBlog();
  try {
    const rows = [];
    const row = (label, value, note = '') => rows.push([label, value, note]);
    // A blog that just started may still be warming its list cache; measure once it is done.
    while (JSON.parse((await call('GET', '/stats')).body).list?.warming) await new Promise((r) => setTimeout(r, 250));
    expectOk(await call('POST', '/cache/clear', { headers: admin }), 'POST /cache/clear');
    const first = JSON.parse(expectOk(await call('GET', '/posts?limit=1'), 'first page').body);
    const stats0 = JSON.parse((await call('GET', '/stats')).body);

    // Single posts: 20 different ids (each a miss), then 500 reads of them (hits).
    const ids = Array.from({ length: 20 }, (_, i) => (first[0]?.id ?? 1) + i * 997);
    const misses = [];
    for (const id of ids) misses.push(expectOk(await call('GET', `/posts/${id}`), `GET /posts/${id}`).ms);
    const hits = [];
    for (let i = 0; i < 500; i += 1) {
      const response = await call('GET', `/posts/${ids[i % ids.length]}`);
      if (response.headers['x-cache'] !== 'HIT') throw new Error(`expected a hit, got ${response.headers['x-cache']}`);
      hits.push(response.ms);
    }
    row('single post, miss (p50 of 20)', ms(median(misses)));
    row('single post, hit (p50 of 500)', ms(median(hits)), `p99 ${ms(percentile(hits, 0.99))}`);

    // The full list: a miss (cache cleared), hits, then one write and the list again.
    expectOk(await call('POST', '/cache/clear', { headers: admin }), 'POST /cache/clear');
    const miss = expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts');
    row('full list, miss, gzip', ms(miss.ms), `${miss.headers['x-cache']}, ${mb(miss.body.length)} sent`);
    const listHits = [];
    for (let i = 0; i < 5; i += 1) {
      const hit = await call('GET', '/posts', { headers: GZIP });
      if (hit.headers['x-cache'] !== 'HIT') throw new Error(`expected a hit, got ${hit.headers['x-cache']}`);
      listHits.push(hit.ms);
    }
    const hitMs = median(listHits);
    row('full list, hit, gzip (median of 5)', ms(hitMs), 'HIT');
    const plain = await call('GET', '/posts');
    row('full list, hit, plain JSON', ms(plain.ms), `${plain.headers['x-cache']}, ${mb(plain.body.length)} of JSON`);
    const listBytes = plain.body.length;

    // Writes of each kind, each followed by the full list: only the chunk the write touched is rebuilt.
    const title = `Demo post ${new Date().toISOString()}`;
    const json = { 'Content-Type': 'application/json' };
    const created = JSON.parse(
      expectOk(
        await call('POST', '/posts', {
          headers: json,
          body: JSON.stringify({ title, content: 'Written by npm run demo:blog.', author: 'Demo' }),
        }),
        'POST /posts',
      ).body,
    );
    const afterCreate = expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts after POST');
    const afterWrites = [afterCreate];
    const middle = first[0]?.id ?? 1;
    for (let i = 1; i <= 4; i += 1) {
      const id = middle + Math.floor((i * (created.id - middle)) / 5);
      expectOk(
        await call('PUT', `/posts/${id}`, {
          headers: json,
          body: JSON.stringify({ title: `Edited by the demo ${i}` }),
        }),
        `PUT /posts/${id}`,
      );
      afterWrites.push(expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts after PUT'));
    }
    expectOk(await call('DELETE', `/posts/${created.id}`), 'DELETE /posts');
    afterWrites.push(expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts after DELETE'));
    const afterWriteMs = median(afterWrites.map((response) => response.ms));
    row(
      'full list after one write, gzip (median of 6)',
      ms(afterWriteMs),
      `after POST, 4 × PUT, DELETE: ${afterWrites.map((response) => response.headers['x-cache']).join(' ')}`,
    );
    const { found, bytes } = await gzipContains(
      afterCreate.body,
      `{"id":${created.id},"title":${JSON.stringify(title)}`,
    );
    const stats = JSON.parse((await call('GET', '/stats')).body);

    const width = Math.max(...rows.map(([label]) => label.length)) + 2;
    process.stdout.write(
      `\nBlog demo against ${base.origin}: ${(listBytes / 1e6).toFixed(0)} MB of JSON in the full list` +
        ` (${stats.list?.chunkSize ?? '?'} posts per chunk)\n` +
        `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n\n`,
    );
    for (const [label, value, note] of rows)
      process.stdout.write(`  ${label.padEnd(width)}${value.padStart(9)}  ${note}\n`);
    const ratios = [
      ['single post, miss / hit', median(misses) / median(hits)],
      ['full list, miss / hit', miss.ms / hitMs],
      ['full list, after one write / hit', afterWriteMs / hitMs],
    ];
    process.stdout.write('\nRatios\n');
    for (const [label, value] of ratios)
      process.stdout.write(`  ${label.padEnd(width)}${`${value.toFixed(1)}×`.padStart(9)}\n`);
    const targets = [
      ['full-list miss under 3 s', miss.ms < 3000, ms(miss.ms)],
      ['full-list hit (gzip) under 0.3 s', hitMs < 300, ms(hitMs)],
      ['single-post hit p50 under 1 ms', median(hits) < 1, ms(median(hits))],
      [
        'full list after one write within 1.5× of a hit',
        afterWriteMs <= 1.5 * hitMs,
        `${(afterWriteMs / hitMs).toFixed(2)}×`,
      ],
    ];
    process.stdout.write('\nTargets (printed, not enforced)\n');
    for (const [label, met, value] of targets)
      process.stdout.write(`  ${met ? 'met    ' : 'NOT met'}  ${label}: ${value}\n`);
    const peak = stats.memory?.maxRssBytes;
    process.stdout.write(
      `\nBlog process: peak RSS ${peak ? mb(peak) : '?'} since it started (${stats0.memory ? mb(stats0.memory.rssBytes) : '?'} before the demo)\n`,
    );
    process.stdout.write(
      `Written post #${created.id} in the list that followed (${mb(bytes)} decompressed): ${found ? 'yes' : 'NO'}\n`,
    );
    if (!found) process.exitCode = 1;
  } finally {
    agent.destroy();
    await blog?.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`demo:blog failed: ${error.message}\n`);
  process.exit(1);
});
