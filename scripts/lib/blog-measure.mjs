// The blog's reads and writes, timed from a client the way `npm run demo:blog` and `npm run bench` report them:
// time to the last byte over one keep-alive connection. The full list is read once as the blog serves it after
// its start, then measured after `POST /cache/clear` (a miss: a cold Redis), five times warm (hits), after each
// of six writes, and once as plain JSON.
import { Agent, request } from 'node:http';
import { createGunzip } from 'node:zlib';

export const percentile = (values, p) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))];
export const median = (values) => percentile(values, 0.5);
const GZIP = { 'Accept-Encoding': 'gzip' };

/** A client for `base` (one keep-alive connection): `call(method, path, { headers, body })`. */
export function blogClient(base) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method, path, { headers = {}, body } = {}) =>
    new Promise((done, fail) => {
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
  return { call, close: () => agent.destroy() };
}

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

/**
 * Measures the blog at `base` (`admin`: headers for `POST /cache/clear`). Leaves the posts as it found them but
 * for the edits of four titles. Returns the timings in ms, sizes in bytes, and whether the post it wrote was in
 * the list that followed.
 */
export async function measureBlog(base, { admin = {} } = {}) {
  const { call, close } = blogClient(base);
  try {
    // A blog that just started may still be warming its list cache; measure once it is done.
    const startedAt = performance.now();
    while (JSON.parse((await call('GET', '/stats')).body).list?.warming) await new Promise((r) => setTimeout(r, 250));
    const warmWaitMs = performance.now() - startedAt;
    const stats0 = JSON.parse((await call('GET', '/stats')).body);
    // The list as the blog serves it once it has built it (a hit after the warm-up); from then on the segments
    // are kept in Postgres, so the miss measured below is a cold Redis, not the first build ever.
    const firstList = expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts');
    expectOk(await call('POST', '/cache/clear', { headers: admin }), 'POST /cache/clear');
    const first = JSON.parse(expectOk(await call('GET', '/posts?limit=1'), 'first page').body);

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

    // The full list: a miss (cache cleared), hits, then one write and the list again.
    expectOk(await call('POST', '/cache/clear', { headers: admin }), 'POST /cache/clear');
    const miss = expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts');
    const listHits = [];
    for (let i = 0; i < 5; i += 1) {
      const hit = await call('GET', '/posts', { headers: GZIP });
      if (hit.headers['x-cache'] !== 'HIT') throw new Error(`expected a hit, got ${hit.headers['x-cache']}`);
      listHits.push(hit.ms);
    }
    const plain = await call('GET', '/posts');

    // The cold path: nothing in Redis and no kept segment (a first start, or writes touched every chunk).
    const builtBefore = JSON.parse((await call('GET', '/stats')).body).list?.chunksBuilt ?? 0;
    expectOk(await call('POST', '/cache/clear?segments=true', { headers: admin }), 'POST /cache/clear?segments=true');
    const cold = expectOk(await call('GET', '/posts', { headers: GZIP }), 'GET /posts (cold)');
    const coldStats = JSON.parse((await call('GET', '/stats')).body);

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
    const { found, bytes } = await gzipContains(
      afterCreate.body,
      `{"id":${created.id},"title":${JSON.stringify(title)}`,
    );
    const stats = JSON.parse((await call('GET', '/stats')).body);
    return {
      warmWaitMs,
      firstListMs: firstList.ms,
      firstListCache: firstList.headers['x-cache'],
      singleMissMs: median(misses),
      singleHitMs: median(hits),
      singleHitP99Ms: percentile(hits, 0.99),
      listMissMs: miss.ms,
      listMissCache: miss.headers['x-cache'],
      listMissBytes: miss.body.length,
      listHitMs: median(listHits),
      coldListMs: cold.ms,
      coldListCache: cold.headers['x-cache'],
      coldChunksBuilt: (coldStats.list?.chunksBuilt ?? 0) - builtBefore,
      plainMs: plain.ms,
      plainCache: plain.headers['x-cache'],
      listBytes: plain.body.length,
      afterWriteMs: median(afterWrites.map((response) => response.ms)),
      afterWriteCaches: afterWrites.map((response) => response.headers['x-cache']),
      createdId: created.id,
      found,
      decompressedBytes: bytes,
      chunkSize: stats.list?.chunkSize,
      peakRssBytes: stats.memory?.maxRssBytes,
      rssBeforeBytes: stats0.memory?.rssBytes,
    };
  } finally {
    close();
  }
}
