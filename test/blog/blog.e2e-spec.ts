import { CacheKeys } from '@app/cache-core';
import { PostSeeder, PostStore, SEED_AUTHORS, SEED_TOPICS } from '@app/blog';
import { gunzipSync } from 'node:zlib';
import { type BlogTestApp, nextLink, POSTS_AS_JSON, rawGet, startBlogTestApp } from '../support/blog-app';
import { timersArmedBy } from '../support/armed-timers';
import { Gate, holdNextLoad } from '../support/gate';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait-for';
import { keysMatching } from '../support/redis-client';

interface Post {
  id: number;
  title: string;
  content: string;
  author: string;
  createdAt: string;
  updatedAt: string;
}

const GZIP = { 'Accept-Encoding': 'gzip' };
/** Every key the list cache uses for chunk `c`'s data (the generation key beside it is not data). */
const chunkKey = (t: BlogTestApp, chunk: number): string =>
  t.app.get(CacheKeys).list(t.config.BLOG_CHUNK_SIZE).chunk(chunk);

async function table(t: BlogTestApp): Promise<Post[]> {
  return (await t.db.query<Post>(POSTS_AS_JSON)).rows;
}

async function fullList(
  t: BlogTestApp,
  headers: Record<string, string> = {},
): Promise<{ posts: Post[]; cache: string; chunks: string }> {
  const response = await rawGet(`${t.url}/posts`, headers);
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  // RFC 9211, the same answer as X-Cache says.
  const status = { HIT: 'hit', MISS: 'fwd=miss; stored', PARTIAL: 'fwd=partial; stored', BYPASS: 'fwd=bypass' };
  expect(response.headers['cache-status']).toBe(
    `blog-list; ${status[String(response.headers['x-cache']) as keyof typeof status]}`,
  );
  const gzipped = response.headers['content-encoding'] === 'gzip';
  expect(gzipped).toBe(headers['Accept-Encoding']?.includes('gzip') ?? false);
  const text = (gzipped ? gunzipSync(response.body) : response.body).toString();
  return {
    posts: JSON.parse(text) as Post[],
    cache: String(response.headers['x-cache']),
    chunks: String(response.headers['x-cache-chunks']),
  };
}

async function chunkBuffers(t: BlogTestApp, chunks: number): Promise<(Buffer | null)[]> {
  return Promise.all(Array.from({ length: chunks }, (_, chunk) => t.redis.getBuffer(chunkKey(t, chunk))));
}

describe('blog', () => {
  let t: BlogTestApp;

  beforeAll(async () => {
    t = await startBlogTestApp();
  });

  afterAll(async () => {
    await t.close();
  });

  beforeEach(async () => {
    await t.http().post('/cache/clear').expect(204);
  });

  it('seeds the configured number of posts once, in the seed’s shape, with the sequence past them', async () => {
    const { rows } = await t.db.query<{ count: number; max: number }>(
      'SELECT count(*)::int AS count, max(id) AS max FROM posts',
    );
    expect(rows[0]).toEqual({ count: 2500, max: 2500 });
    const sample = await t.db.query<Post>(
      'SELECT id, title, content, author FROM posts WHERE id IN (1, 2, 7, 12) ORDER BY id',
    );
    for (const post of sample.rows) {
      const topic = SEED_TOPICS[(post.id - 1) % SEED_TOPICS.length]!;
      expect(post.title).toBe(`${topic} Best Practices - Part ${post.id}`);
      expect(post.content).toBe(`This is a detailed article about ${topic}. `.repeat(20));
      expect(post.author).toBe(SEED_AUTHORS[(post.id - 1) % SEED_AUTHORS.length]);
    }
    expect(sample.rows.map((post) => post.author)).toEqual(['Alice', 'Bob', 'Alice', 'Frank']);
    expect(await t.app.get(PostSeeder).seedIfEmpty(100, { progress: false })).toBe(0);
    const created = await t
      .http()
      .post('/posts')
      .send({ title: 'After seed', content: 'c', author: 'Zoe' })
      .expect(201);
    expect(created.body.id).toBeGreaterThan(2500);
    await t.http().delete(`/posts/${created.body.id}`).expect(204);
  });

  it('returns the whole table as one JSON array, plain or gzip, and gzip clients get the stored bytes as they are', async () => {
    const expected = await table(t);
    const miss = await fullList(t);
    expect(miss).toMatchObject({ cache: 'MISS', chunks: '0/5' });
    expect(miss.posts).toEqual(expected);

    const raw = await rawGet(`${t.url}/posts`, GZIP);
    expect(raw.headers).toMatchObject({
      'content-encoding': 'gzip',
      'x-cache': 'HIT',
      'x-cache-chunks': '5/5',
      vary: 'Accept-Encoding',
    });
    expect(JSON.parse(gunzipSync(raw.body).toString())).toEqual(expected);
    for (const stored of await chunkBuffers(t, 5)) {
      expect(stored).not.toBeNull();
      // A stored segment is 8 bytes of CRC and length, then deflate data sent verbatim.
      expect(raw.body.indexOf(stored!.subarray(8))).toBeGreaterThan(0);
    }
    expect((await fullList(t)).posts).toEqual(expected);
  });

  it('invalidates only the chunk a write touches, for an update, a delete and an insert', async () => {
    const warmed = (await t.http().post('/cache/warm').expect(200)).body as {
      chunks: number;
      built: number;
      kept: number;
    };
    // Each chunk came from Postgres: built from its rows, or the segment an earlier test's build kept there.
    expect(warmed.chunks).toBe(5);
    expect(warmed.built + warmed.kept).toBe(5);
    const before = await chunkBuffers(t, 5);
    expect(before.every((stored) => stored !== null)).toBe(true);
    const untouched = async (except: number[]): Promise<void> => {
      const now = await chunkBuffers(t, 5);
      now.forEach((stored, chunk) => {
        if (except.includes(chunk)) expect(stored).toBeNull();
        else expect(stored).toEqual(before[chunk]);
      });
    };

    await t.http().put('/posts/777').send({ title: 'Updated in chunk 1' }).expect(200);
    await untouched([1]);
    let list = await fullList(t, GZIP);
    expect(list).toMatchObject({ cache: 'PARTIAL', chunks: '4/5' });
    expect(list.posts.find((post) => post.id === 777)?.title).toBe('Updated in chunk 1');
    expect(list.posts).toEqual(await table(t));
    before[1] = (await t.redis.getBuffer(chunkKey(t, 1)))!;

    await t.http().delete('/posts/1234').expect(204);
    await untouched([2]);
    list = await fullList(t);
    expect(list.posts.some((post) => post.id === 1234)).toBe(false);
    expect(list.posts).toEqual(await table(t));
    before[2] = (await t.redis.getBuffer(chunkKey(t, 2)))!;

    const created = (await t.http().post('/posts').send({ title: 'New', content: 'Fresh', author: 'Zoe' }).expect(201))
      .body as Post;
    expect(created.id).toBeGreaterThan(2500);
    await untouched([]);
    list = await fullList(t, GZIP);
    expect(list).toMatchObject({ cache: 'PARTIAL', chunks: '5/6' });
    expect(list.posts.at(-1)).toEqual(created);
    expect(list.posts).toEqual(await table(t));
    expect((await fullList(t, GZIP)).cache).toBe('HIT');
    await t.http().delete(`/posts/${created.id}`).expect(204);
  });

  it('leaves no read timeout armed behind a chunk read from its rows', async () => {
    // pg arms `query_timeout` for each COPY and clears it only from the query's callback: left armed, each chunk's
    // timer kept a stopping process alive 5.5 s and then failed a COPY long finished.
    await t.db.query('DELETE FROM post_list_chunks');
    // The timer pg's `Client.query` arms for each chunk's COPY (not the pool's idle timer for the client after it).
    const timers = await timersArmedBy(['PostStore.rangeJson', 'Client.query'], async () => {
      const list = await fullList(t, GZIP);
      expect(list).toMatchObject({ cache: 'MISS', chunks: '0/5' });
      expect(list.posts).toEqual(await table(t));
    });
    expect(timers).toEqual({ armed: 5, left: 0 });
  });

  it('never stores a chunk built from rows older than a write that committed meanwhile', async () => {
    // No segment kept in Postgres from earlier tests: chunk 0 is built from its rows.
    await t.db.query('DELETE FROM post_list_chunks');
    const store = t.app.get(PostStore);
    const original = store.rangeJson.bind(store);
    const gate = new Gate();
    store.rangeJson = async function* (
      from: number,
      to: number,
      snapshot?: { fingerprint?: string },
    ): AsyncGenerator<Buffer> {
      store.rangeJson = original;
      const rows: Buffer[] = [];
      for await (const row of original(from, to, snapshot)) rows.push(row);
      await gate.wait();
      yield* rows;
    };
    const stale = fullList(t);
    await gate.reached;
    await t.http().put('/posts/3').send({ title: 'Written during the build' }).expect(200);
    gate.open();
    expect((await stale).posts.find((post) => post.id === 3)?.title).not.toBe('Written during the build');
    expect(await t.redis.exists(chunkKey(t, 0))).toBe(0);
    // Kept in Postgres, but with the fingerprint of the rows it was built from, which the write changed: the next
    // read builds chunk 0 again and keeps it with the current fingerprint.
    const keptIsCurrent = async (): Promise<boolean> =>
      (
        await t.db.query<{ current: boolean }>(
          `SELECT c.fingerprint = (SELECT md5(coalesce(string_agg(id || ':' || xmin::text, ',' ORDER BY id), ''))
             FROM posts WHERE id BETWEEN 1 AND c.chunk_size) AS current
           FROM post_list_chunks c WHERE c.chunk = 0`,
        )
      ).rows[0]!.current;
    expect(await keptIsCurrent()).toBe(false);
    expect((await fullList(t)).posts.find((post) => post.id === 3)?.title).toBe('Written during the build');
    expect(await keptIsCurrent()).toBe(true);
  });

  it('refills a cleared cache from the segments kept in Postgres, and never from one whose rows changed since', async () => {
    const listStats = async (): Promise<{ chunksKept: number; chunksBuilt: number }> =>
      (await t.http().get('/stats').expect(200)).body.list as { chunksKept: number; chunksBuilt: number };
    await fullList(t);
    await t.http().post('/cache/clear').expect(204);
    const before = await listStats();
    const cold = await fullList(t, GZIP);
    expect(cold.cache).toBe('MISS');
    expect(cold.posts).toEqual(await table(t));
    const after = await listStats();
    expect(after.chunksKept - before.chunksKept).toBe(5);
    expect(after.chunksBuilt).toBe(before.chunksBuilt);

    // A write the app never hears of (no outbox: the trigger is off for this transaction), then a cold cache: the
    // kept segment of chunk 2 no longer matches its rows, so that chunk is built again; the others are kept.
    await t.db.query('BEGIN');
    await t.db.query(`SET LOCAL cache.outbox = 'off'`);
    await t.db.query(`UPDATE posts SET title = 'Changed behind the app' WHERE id = 1111`);
    await t.db.query('COMMIT');
    await t.http().post('/cache/clear').expect(204);
    const list = await fullList(t, GZIP);
    expect(list.posts.find((post) => post.id === 1111)?.title).toBe('Changed behind the app');
    expect(list.posts).toEqual(await table(t));
    const last = await listStats();
    expect(last.chunksBuilt - after.chunksBuilt).toBe(1);
    expect(last.chunksKept - after.chunksKept).toBe(4);
  });

  it('walks the table exactly once with keyset pages, caches each page, and refreshes only pages a write touches', async () => {
    const walk = async (): Promise<{ ids: number[]; outcomes: string[]; posts: Post[] }> => {
      const ids: number[] = [];
      const outcomes: string[] = [];
      const posts: Post[] = [];
      let path: string | undefined = '/posts?limit=333';
      while (path !== undefined) {
        const page = await t.http().get(path).expect(200);
        const body = page.body as Post[];
        expect(body.length).toBeLessThanOrEqual(333);
        ids.push(...body.map((post) => post.id));
        posts.push(...body);
        outcomes.push(String(page.headers['x-cache']));
        path = nextLink(page.headers.link);
        if (path !== undefined) expect(path).toBe(`/posts?limit=333&after=${body.at(-1)!.id}`);
      }
      return { ids, outcomes, posts };
    };
    const expected = await table(t);
    const first = await walk();
    expect(first.ids).toEqual(expected.map((post) => post.id));
    expect(new Set(first.ids).size).toBe(first.ids.length);
    expect(first.posts).toEqual(expected);
    expect(first.outcomes.every((outcome) => outcome === 'MISS')).toBe(true);
    expect((await walk()).outcomes.every((outcome) => outcome === 'HIT')).toBe(true);

    // Id 1600 is in chunk 3 (1501-2000): only pages overlapping that chunk are rebuilt.
    await t.http().put('/posts/1600').send({ author: 'Zoe' }).expect(200);
    const after = await walk();
    expect(after.posts.find((post) => post.id === 1600)?.author).toBe('Zoe');
    const pageOf = (id: number): number =>
      after.ids.indexOf(id) === -1 ? -1 : Math.floor(after.ids.indexOf(id) / 333);
    after.outcomes.forEach((outcome, page) => {
      const lastId = after.ids[Math.min((page + 1) * 333, after.ids.length) - 1]!;
      const firstId = after.ids[page * 333]!;
      const overlaps = firstId <= 2000 && lastId >= 1501;
      expect([page, outcome]).toEqual([page, overlaps ? 'MISS' : 'HIT']);
    });
    expect(pageOf(1600)).toBeGreaterThan(0);

    // An insert grows the last page, which is rebuilt; the full pages before it stay cached.
    const created = (await t.http().post('/posts').send({ title: 'Tail', content: 'c', author: 'Zoe' }).expect(201))
      .body as Post;
    const tail = await walk();
    expect(tail.ids.at(-1)).toBe(created.id);
    expect(tail.outcomes.at(-1)).toBe('MISS');
    expect(tail.outcomes.slice(0, 4).every((outcome) => outcome === 'HIT')).toBe(true);
    await t.http().delete(`/posts/${created.id}`).expect(204);
    const lastPage = (await t.http().get('/posts?after=2499').expect(200)).body as Post[];
    expect(lastPage.map((post) => post.id)).toEqual([2500]);
  });

  it.each([
    'limit=0',
    'limit=1001',
    'limit=abc',
    'limit=1.5',
    'limit=1e3',
    'limit=',
    'after=-1',
    'after=abc',
    'after=2147483648',
    'limit=1&limit=2',
    'page=2',
  ])('rejects GET /posts?%s with 400', async (query) => {
    const response = await t.http().get(`/posts?${query}`).expect(400);
    expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(JSON.stringify(response.body)).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('answers bad writes and missing posts with clear 4xx, never a 500', async () => {
    const count = async (): Promise<unknown> => (await t.db.query('SELECT count(*)::int AS count FROM posts')).rows[0];
    const before = await count();
    await t.http().get('/posts/abc').expect(400);
    await t.http().get('/posts/0').expect(400);
    expect((await t.http().get('/posts/999999').expect(404)).body).toMatchObject({ message: 'Post 999999 not found' });
    await t.http().post('/posts').send({}).expect(400);
    await t.http().post('/posts').send({ title: '', content: 'c', author: 'a' }).expect(400);
    await t.http().post('/posts').send({ title: '   ', content: 'c', author: 'a' }).expect(400);
    await t.http().post('/posts').send({ title: 't', content: 'c', author: 'a', id: 5 }).expect(400);
    await t
      .http()
      .post('/posts')
      .send({ title: 't', content: 'c', author: 'x'.repeat(101) })
      .expect(400);
    await t.http().post('/posts').set('Content-Type', 'application/json').send('{"title":').expect(400);
    await t
      .http()
      .post('/posts')
      .send({ title: 't', content: 'x'.repeat(120_000), author: 'a' })
      .expect(413);
    expect((await t.http().put('/posts/1').send({}).expect(400)).body.message).toMatch(/at least one of title/);
    await t.http().put('/posts/1').send({ title: null }).expect(400);
    await t.http().put('/posts/999999').send({ title: 'x' }).expect(404);
    await t.http().delete('/posts/999999').expect(404);
    expect(await count()).toEqual(before);
  });

  it('serves single posts cache-aside: a partial PUT changes only what was sent, and a racing fill is dropped', async () => {
    const first = await t.http().get('/posts/10').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['cache-status']).toBe('cache-aside; fwd=miss; stored');
    const hit = await t.http().get('/posts/10').expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['cache-status']).toMatch(/^cache-aside; hit; ttl=\d+$/);
    expect(await t.redis.exists(`${t.prefix}{post:10}`)).toBe(1);
    const updated = (await t.http().put('/posts/10').send({ title: 'Only the title' }).expect(200)).body as Post;
    expect(updated).toEqual({ ...first.body, title: 'Only the title', updatedAt: expect.any(String) });
    expect(updated.updatedAt > (first.body as Post).updatedAt).toBe(true);
    expect(await t.redis.exists(`${t.prefix}{post:10}`)).toBe(0);
    const read = await t.http().get('/posts/10').expect(200);
    expect(read.headers['x-cache']).toBe('MISS');
    expect(read.body).toEqual(updated);

    const gate = holdNextLoad(t.app.get(PostStore));
    const slow = t
      .http()
      .get('/posts/20')
      .then((response) => response);
    await gate.reached;
    await t.http().put('/posts/20').send({ content: 'Newer' }).expect(200);
    gate.open();
    expect((await slow).body.content).not.toBe('Newer');
    expect(await t.redis.exists(`${t.prefix}{post:20}`)).toBe(0);
    expect((await t.http().get('/posts/20').expect(200)).body.content).toBe('Newer');
  });

  it('answers posts with ETags: 304 for If-None-Match, 412 for a stale If-Match, and replays an Idempotency-Key', async () => {
    const created = await t
      .http()
      .post('/posts')
      .set('Idempotency-Key', 'blog-create')
      .send({ title: 'Once', content: 'c', author: 'a' })
      .expect(201);
    expect(created.headers.etag).toBe('"1"');
    const replay = await t
      .http()
      .post('/posts')
      .set('Idempotency-Key', 'blog-create')
      .send({ title: 'Once', content: 'c', author: 'a' })
      .expect(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(created.body);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM posts WHERE title = 'Once'`)).rows).toEqual([{ n: 1 }]);
    await t
      .http()
      .post('/posts')
      .set('Idempotency-Key', 'blog-create')
      .send({ title: 'Twice', content: 'c', author: 'a' })
      .expect(422);

    const id = created.body.id as number;
    const unchanged = await t.http().get(`/posts/${id}`).set('If-None-Match', '"1"').expect(304);
    expect(unchanged.text).toBe('');
    await t.http().put(`/posts/${id}`).set('If-Match', '"1"').send({ title: 'Edited' }).expect(200);
    await t.http().put(`/posts/${id}`).set('If-Match', '"1"').send({ title: 'Lost update' }).expect(412);
    await t.http().delete(`/posts/${id}`).set('If-Match', '"1"').expect(412);
    const read = await t.http().get(`/posts/${id}`).set('If-None-Match', '"1"').expect(200);
    expect(read.headers.etag).toBe('"2"');
    expect(read.body.title).toBe('Edited');
    expect((await t.db.query('SELECT title, version FROM posts WHERE id = $1', [id])).rows).toEqual([
      { title: 'Edited', version: 2 },
    ]);
    await t.http().delete(`/posts/${id}`).set('If-Match', '"2"').set('Idempotency-Key', 'blog-delete').expect(204);
    await t.http().delete(`/posts/${id}`).set('If-Match', '"2"').set('Idempotency-Key', 'blog-delete').expect(204);
    await t.http().get(`/posts/${id}`).expect(404);
  });

  it('reports health, stats and the OpenAPI document', async () => {
    expect((await t.http().get('/health').expect(200)).body).toMatchObject({ status: 'ok' });
    await fullList(t, GZIP);
    const stats = (await t.http().get('/stats').expect(200)).body as Record<string, unknown>;
    expect(stats).toMatchObject({
      app: 'blog',
      pattern: 'cache-aside',
      list: { chunkSize: 500, activeStreams: 0, fullLists: { MISS: expect.any(Number) } },
      memory: { rssBytes: expect.any(Number), maxRssBytes: expect.any(Number) },
    });
    const docs = (await t.http().get('/docs-json').expect(200)).body as { paths: Record<string, unknown> };
    expect(Object.keys(docs.paths)).toEqual(
      expect.arrayContaining(['/posts', '/posts/{id}', '/cache/warm', '/cache/clear', '/stats', '/health']),
    );
  });
});

describe('blog admin endpoints', () => {
  it('warm and clear need the admin token when one is set; clear removes every key of the blog and nothing else', async () => {
    const t = await startBlogTestApp({ env: { ADMIN_TOKEN: 'correct-horse-battery', BLOG_SEED_POSTS: '1200' } });
    const bystander = `${t.prefix.slice(0, -1)}-other:key`;
    try {
      await t.redis.set(bystander, '1');
      await t.http().post('/cache/warm').expect(401);
      await t.http().post('/cache/clear').set('Authorization', 'Bearer wrong-token-here').expect(401);
      const auth = { Authorization: 'Bearer correct-horse-battery' };
      expect((await t.http().post('/cache/warm').set(auth).expect(200)).body).toMatchObject({ chunks: 3, built: 3 });
      expect(await t.redis.exists(chunkKey(t, 0), chunkKey(t, 1), chunkKey(t, 2))).toBe(3);
      expect((await t.http().post('/cache/warm').set(auth).expect(200)).body).toMatchObject({ chunks: 3, built: 0 });
      await t.http().post('/cache/clear').set(auth).expect(204);
      expect(await keysMatching(t.redis, `${t.prefix}*`)).toEqual([]);
      expect(await t.redis.get(bystander)).toBe('1');
      expect((await fullList(t)).cache).toBe('MISS');
    } finally {
      await t.redis.del(bystander);
      await t.close();
    }
  });

  it('warms the list on start when asked to', async () => {
    const t = await startBlogTestApp({ env: { BLOG_WARM_ON_START: 'true', BLOG_SEED_POSTS: '1200' } });
    try {
      // Chunks are built two at a time, and the short last one can be stored before the others: wait for the
      // warm-up to report it finished, not for any one chunk.
      await waitFor(async () => (await t.http().get('/stats').expect(200)).body.list.warming === false, 30_000);
      expect((await t.http().get('/stats').expect(200)).body.list.chunksBuilt).toBe(3);
      for (const chunk of [0, 1, 2]) expect(await t.redis.exists(chunkKey(t, chunk))).toBe(1);
      expect((await fullList(t, GZIP)).cache).toBe('HIT');
    } finally {
      await t.close();
    }
  });
});

describe('blog when Redis is unavailable', () => {
  it('serves the list, pages and posts from Postgres (BYPASS), takes writes, and caches again once Redis is back', async () => {
    const redis = await RedisServer.start();
    const t = await startBlogTestApp({ env: { REDIS_URL: redis.url, BLOG_SEED_POSTS: '1200' } });
    try {
      await t.http().post('/cache/warm').expect(200);
      await redis.stop();
      await t.http().put('/posts/5').send({ title: 'Written while Redis was away' }).expect(200);
      const list = await fullList(t, GZIP);
      expect(list.cache).toBe('BYPASS');
      expect(list.posts).toEqual(await table(t));
      const page = await t.http().get('/posts?limit=10').expect(200);
      expect(page.headers['x-cache']).toBe('BYPASS');
      expect(page.body[4].title).toBe('Written while Redis was away');
      expect((await t.http().get('/posts/5').expect(200)).headers['x-cache']).toBe('BYPASS');

      await redis.launch();
      for (let i = 0; i < 100 && (await rawGet(`${t.url}/posts?limit=1`)).headers['x-cache'] === 'BYPASS'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const back = await fullList(t, GZIP);
      expect(back.cache).toBe('MISS');
      expect(back.posts.find((post) => post.id === 5)?.title).toBe('Written while Redis was away');
      expect((await fullList(t, GZIP)).cache).toBe('HIT');
    } finally {
      await t.close();
      await redis.stop();
    }
  });
});
