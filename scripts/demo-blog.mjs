#!/usr/bin/env node
// `npm run demo:blog`: times the blog's reads the way the seed's test_performance.py did, and more.
// Uses the blog at BLOG_URL (default http://localhost:8000); when nothing answers there it starts the built
// app itself (which seeds 500,000 posts on first start) and stops it at the end. Timings are client-side,
// time to the last byte, over a keep-alive connection. Exits 1 only if the post it writes is missing from the
// list that follows; timing targets are printed, not enforced.
import { cpus, totalmem } from 'node:os';
import { blogClient, measureBlog } from './lib/blog-measure.mjs';
import { builtApp, healthy, nodeFlagsFor, ServerProcess } from './lib/server-process.mjs';

const base = new URL(process.env.BLOG_URL ?? 'http://localhost:8000');
const admin = process.env.ADMIN_TOKEN ? { Authorization: `Bearer ${process.env.ADMIN_TOKEN}` } : {};

async function answers() {
  const { call, close } = blogClient(base);
  try {
    return (await call('GET', '/health')).status === 200;
  } catch {
    return false;
  } finally {
    close();
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
    nodeFlags: nodeFlagsFor('blog'),
  });
  await blog.waitFor('/health', { timeoutMs: 180_000, ready: healthy });
  process.stdout.write(`Blog up after ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  return blog;
}

const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`);
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

async function main() {
  const blog = (await answers()) ? undefined : await startBlog();
  try {
    const m = await measureBlog(base, { admin });
    const rows = [
      ['single post, miss (p50 of 20)', ms(m.singleMissMs), ''],
      ['single post, hit (p50 of 500)', ms(m.singleHitMs), `p99 ${ms(m.singleHitP99Ms)}`],
      ['full list, miss, gzip', ms(m.listMissMs), `${m.listMissCache}, ${mb(m.listMissBytes)} sent, segments kept`],
      ['full list, cold, gzip', ms(m.coldListMs), `${m.coldListCache}, no kept segment: ${m.coldChunksBuilt} built`],
      ['full list, hit, gzip (median of 5)', ms(m.listHitMs), 'HIT'],
      ['full list, hit, plain JSON', ms(m.plainMs), `${m.plainCache}, ${mb(m.listBytes)} of JSON`],
      [
        'full list after one write, gzip (median of 6)',
        ms(m.afterWriteMs),
        `after POST, 4 × PUT, DELETE: ${m.afterWriteCaches.join(' ')}`,
      ],
    ];
    const width = Math.max(...rows.map(([label]) => label.length)) + 2;
    process.stdout.write(
      `\nBlog demo against ${base.origin}: ${(m.listBytes / 1e6).toFixed(0)} MB of JSON in the full list` +
        ` (${m.chunkSize ?? '?'} posts per chunk)\n` +
        `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n\n`,
    );
    for (const [label, value, note] of rows)
      process.stdout.write(`  ${label.padEnd(width)}${value.padStart(9)}  ${note}\n`);
    const ratios = [
      ['single post, miss / hit', m.singleMissMs / m.singleHitMs],
      ['full list, miss / hit', m.listMissMs / m.listHitMs],
      ['full list, after one write / hit', m.afterWriteMs / m.listHitMs],
    ];
    process.stdout.write('\nRatios\n');
    for (const [label, value] of ratios)
      process.stdout.write(`  ${label.padEnd(width)}${`${value.toFixed(1)}×`.padStart(9)}\n`);
    const targets = [
      ['full-list miss under 3 s', m.listMissMs < 3000, ms(m.listMissMs)],
      ['cold full list under 3 s', m.coldListMs < 3000, ms(m.coldListMs)],
      ['full-list hit (gzip) under 0.3 s', m.listHitMs < 300, ms(m.listHitMs)],
      ['single-post hit p50 under 1 ms', m.singleHitMs < 1, ms(m.singleHitMs)],
      [
        'full list after one write within 1.5× of a hit',
        m.afterWriteMs <= 1.5 * m.listHitMs,
        `${(m.afterWriteMs / m.listHitMs).toFixed(2)}×`,
      ],
    ];
    process.stdout.write('\nTargets (printed, not enforced)\n');
    for (const [label, met, value] of targets)
      process.stdout.write(`  ${met ? 'met    ' : 'NOT met'}  ${label}: ${value}\n`);
    process.stdout.write(
      `\nBlog process: peak RSS ${m.peakRssBytes ? mb(m.peakRssBytes) : '?'} since it started (${m.rssBeforeBytes ? mb(m.rssBeforeBytes) : '?'} before the demo)\n`,
    );
    process.stdout.write(
      `Written post #${m.createdId} in the list that followed (${mb(m.decompressedBytes)} decompressed): ${m.found ? 'yes' : 'NO'}\n`,
    );
    if (!m.found) process.exitCode = 1;
  } finally {
    await blog?.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`demo:blog failed: ${error.message}\n`);
  process.exit(1);
});
