import { jest } from '@jest/globals';
import type { PatternAppDefinition } from '@app/shell';
import { CacheStrategy } from '@app/cache-core';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { Client } from 'pg';
import { ListChunks } from '../../libs/blog/src/list/list-chunks';
import { RedisConnections } from '../../libs/cache-core/src/redis/redis-connections';
import { POSTS_AS_JSON, startBlogTestApp } from '../support/blog-app';
import type { TcpProxy } from '../support/tcp-proxy';
import { DIRECT_DATABASE_URL, proxyInFront } from '../support/tcp-proxy';
import { type AdapterName, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * Grace copies, soft and hard load timeouts (CACHE_GRACE_SECONDS, CACHE_SOFT_TIMEOUT_MS, CACHE_LOAD_TIMEOUT_MS)
 * with the app's Postgres behind a TCP proxy the test cuts (connections reset), stalls (nothing forwarded: a
 * hung peer) or slows. What a client sees (status, body, `X-Cache`, `Cache-Status`, `Age`) and what Redis holds.
 */
const TTL_MS = 1000;
const SOFT_MS = 100;
const HARD_MS = 1500;
/** One way: a query through the slowed proxy takes at least two of these, well past the soft timeout. */
const SLOW_MS = 300;
const ENV = {
  CACHE_TTL_SECONDS: String(TTL_MS / 1000),
  CACHE_TTL_JITTER: '0',
  CACHE_GRACE_SECONDS: '60',
  CACHE_SOFT_TIMEOUT_MS: String(SOFT_MS),
  CACHE_LOAD_TIMEOUT_MS: String(HARD_MS),
  NEGATIVE_TTL_SECONDS: '1',
  REFRESH_INTERVAL_MS: '0',
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const CASES: [string, AdapterName, PatternAppDefinition][] = [
  [CACHE_ASIDE, 'express'],
  [CACHE_ASIDE, 'fastify'],
  [READ_THROUGH, 'express'],
  [WRITE_THROUGH, 'fastify'],
  [REFRESH_AHEAD, 'express'],
].map(([definition, adapter]) => [
  (definition as PatternAppDefinition).pattern,
  adapter as AdapterName,
  definition as PatternAppDefinition,
]);

describe.each(CASES)('%s (%s) while Postgres fails or is slow', (_pattern, adapter, definition) => {
  let t: TestApp;
  let proxy: TcpProxy;

  beforeAll(async () => {
    const front = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    proxy = front.proxy;
    t = await startTestApp(definition, {
      adapter,
      env: { ...ENV, DATABASE_URL: front.url },
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
  });

  afterEach(async () => {
    proxy.delay(0);
    proxy.restore();
    // A cut took the outbox's feed down: until it is back and caught up, reads go to Postgres and fill nothing.
    await waitFor(async () => ((await t.stats()).outbox as { listening?: boolean }).listening === true);
  });

  afterAll(async () => {
    proxy.restore();
    await t.close();
    await proxy.close();
  });

  /** A user created and read once through the app (so cached), then left until its entry is stale. */
  async function staleUser(): Promise<{ id: number; name: string }> {
    const created = await t.http().post('/users').send(newUser()).expect(201);
    const id = created.body.id as number;
    await t.http().get(`/users/${id}`).expect(200);
    const key = entryKey(t, id);
    // Stale: its remaining TTL is within the grace (60 s), the entry still there.
    await waitFor(async () => {
      const ttl = await t.redis.pttl(key);
      return ttl > 0 && ttl <= 60_000;
    });
    return { id, name: created.body.name as string };
  }

  /** A read of `id` through the app, with the names of the commands its Redis clients sent for the entry. */
  async function readWithCommands(id: number): Promise<{ cache: string; commands: string[] }> {
    const key = entryKey(t, id);
    const { reader, writer } = t.app.get(RedisConnections);
    const spies = [reader, writer].map((client) => jest.spyOn(client, 'sendCommand'));
    try {
      const answer = await t.http().get(`/users/${id}`).expect(200);
      const commands = spies
        .flatMap((spy) => spy.mock.calls)
        .map(([command]) => command as { name: string; args: unknown[] })
        .filter((command) => command.args.some((arg) => String(arg) === key))
        // ioredis sends a script as EVAL or EVALSHA, depending on what it believes Redis has loaded.
        .map((command) => (command.name === 'evalsha' ? 'eval' : command.name));
      return { cache: answer.headers['x-cache'] as string, commands };
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }

  it('reads a fresh entry with a plain GET and PTTL, and a stale one then through the lease script', async () => {
    const created = await t.http().post('/users').send(newUser()).expect(201);
    const id = created.body.id as number;
    await t.http().get(`/users/${id}`).expect(200);
    const fresh = await readWithCommands(id);
    expect(fresh).toEqual({ cache: 'HIT', commands: ['get', 'pttl'] });
    const { id: staleId } = await staleUser();
    const stale = await readWithCommands(staleId);
    expect(stale.cache).toBe('MISS');
    // The fresh-entry check, then the lease (the script), then the fill under it: fresh again, grace on top.
    expect(stale.commands.slice(0, 3)).toEqual(['get', 'pttl', 'eval']);
    expect(await t.redis.pttl(entryKey(t, staleId))).toBeGreaterThan(60_000);
  });

  it('answers a stale copy with 200 when Postgres is cut, and says so', async () => {
    const { id, name } = await staleUser();
    proxy.disconnect();
    const response = await t.http().get(`/users/${id}`).expect(200);
    expect(response.body).toMatchObject({ id, name });
    expect(response.headers['x-cache']).toBe('STALE');
    expect(response.headers['cache-status']).toMatch(
      new RegExp(`^${definition.pattern}; hit; fwd=stale; ttl=-\\d+; detail=stale-if-error$`),
    );
    expect(Number(response.headers.age)).toBeGreaterThanOrEqual(TTL_MS / 1000);
    expect(await t.redis.exists(entryKey(t, id))).toBe(1);
    proxy.restore();
    const stats = await t.stats();
    expect(stats.stale).toBeGreaterThanOrEqual(1);
    expect(stats.staleIfError).toBeGreaterThanOrEqual(1);
    const metrics = (await t.http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/^cache_gets_total\{[^}]*result="stale"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^cache_stale_gets_total\{[^}]*reason="stale_if_error"[^}]*\} [1-9]/m);
  });

  it('answers 503 with Retry-After within the hard timeout for a key with no grace copy, Postgres hung', async () => {
    const created = await t.http().post('/users').send(newUser()).expect(201);
    // Never cached (write-through and refresh-ahead store what they write: drop it).
    await t.redis.del(entryKey(t, created.body.id as number));
    proxy.stall();
    const started = Date.now();
    const response = await t
      .http()
      .get(`/users/${created.body.id as number}`)
      .expect(503);
    const elapsed = Date.now() - started;
    expect(response.headers['retry-after']).toBeDefined();
    expect(elapsed).toBeGreaterThanOrEqual(HARD_MS - 50);
    expect(elapsed).toBeLessThan(HARD_MS + 2000);
  });

  it('cancels the statement of a load it gave up on, rather than leave it running in Postgres', async () => {
    const created = await t.http().post('/users').send(newUser()).expect(201);
    const id = created.body.id as number;
    await t.redis.del(entryKey(t, id));
    // Postgres slow the way a lock makes it: the load's SELECT waits behind this transaction.
    const locker = new Client({ connectionString: DIRECT_DATABASE_URL, options: `-c search_path=${t.schema}` });
    const probe = new Client({ connectionString: DIRECT_DATABASE_URL });
    await Promise.all([locker.connect(), probe.connect()]);
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      const holder = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const blocked = async (): Promise<number> =>
        (
          await probe.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
            [holder],
          )
        ).rows[0]!.n;
      const answered = t
        .http()
        .get(`/users/${id}`)
        .then((response) => response);
      await waitFor(async () => (await blocked()) >= 1);
      const response = await answered;
      expect(response.status).toBe(503);
      // Without the cancel the statement would wait on until statement_timeout (DATABASE_TIMEOUT_MS, 5 s).
      await waitFor(async () => (await blocked()) === 0, 2000);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await Promise.all([locker.end(), probe.end()]);
    }
  });

  it('never answers a value older than an acknowledged write', async () => {
    const { id } = await staleUser();
    const renamed = await t.http().patch(`/users/${id}`).send({ name: 'Renamed Later' }).expect(200);
    expect(renamed.body.name).toBe('Renamed Later');
    // Past the new entry's TTL (write-through stored it), then Postgres cut.
    await sleep(TTL_MS + 100);
    proxy.disconnect();
    const response = await t.http().get(`/users/${id}`);
    if (response.status === 200) {
      expect(response.body.name).toBe('Renamed Later');
    } else {
      expect(response.status).toBe(503);
    }
  });

  it('drops the grace copy of a deleted record: Postgres cut, the read never answers it', async () => {
    const { id } = await staleUser();
    await t.http().delete(`/users/${id}`).expect(204);
    expect(await t.redis.exists(entryKey(t, id))).toBe(0);
    proxy.disconnect();
    const response = await t.http().get(`/users/${id}`);
    expect([404, 503]).toContain(response.status);
  });

  it('drops the grace copy when another writer commits a change (the invalidation outbox)', async () => {
    const { id } = await staleUser();
    // A change made outside this app: only the outbox's NOTIFY and sweep tell the app.
    await t.db.query('UPDATE users SET name = $1, version = version + 1 WHERE id = $2', ['Changed Elsewhere', id]);
    await waitFor(async () => (await t.redis.exists(entryKey(t, id))) === 0);
    proxy.disconnect();
    const response = await t.http().get(`/users/${id}`);
    expect(response.status).toBe(503);
  });

  it('answers the stale copy within the soft timeout when Postgres is slow, then fills for the next read', async () => {
    const { id, name } = await staleUser();
    proxy.delay(SLOW_MS);
    const started = Date.now();
    const response = await t.http().get(`/users/${id}`).expect(200);
    const elapsed = Date.now() - started;
    expect(response.body).toMatchObject({ id, name });
    expect(response.headers['cache-status']).toMatch(/; hit; fwd=stale; ttl=-\d+; detail=soft-timeout$/);
    // The slowed load takes at least two one-way delays; the answer came well before it.
    expect(elapsed).toBeLessThan(2 * SLOW_MS);
    // The load went on and filled the entry: fresh again (more than the grace left), then a plain hit.
    await waitFor(async () => (await t.redis.pttl(entryKey(t, id))) > 60_000);
    const next = await t.http().get(`/users/${id}`).expect(200);
    expect(next.headers['x-cache']).toMatch(/^HIT/);
    expect(next.headers['cache-status']).toMatch(new RegExp(`^${definition.pattern}; hit`));
  });
});

describe('read-through while Postgres is cut', () => {
  it('never serves a cached "absent" past its TTL', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const t = await startTestApp(READ_THROUGH, {
      env: { ...ENV, DATABASE_URL: url },
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    try {
      const missing = 987_654;
      await t.http().get(`/users/${missing}`).expect(404);
      expect(await t.redis.get(entryKey(t, missing))).toBe('null');
      await waitFor(async () => (await t.redis.exists(entryKey(t, missing))) === 0);
      proxy.disconnect();
      await t.http().get(`/users/${missing}`).expect(503);
    } finally {
      proxy.restore();
      await t.close();
      await proxy.close();
    }
  });
});

describe('refresh-ahead while Postgres is cut', () => {
  it('keeps a hot entry it could not refresh as a grace copy, and answers it', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const t = await startTestApp(REFRESH_AHEAD, {
      env: { ...ENV, DATABASE_URL: url, HOT_MIN_SCORE: '3', REFRESH_THRESHOLD: '0.5', XFETCH_BETA: '0' },
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    try {
      const created = await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Hot' }))
        .expect(201);
      const id = created.body.id as number;
      for (let i = 0; i < 5; i += 1) await t.http().get(`/users/${id}`).expect(200);
      await sleep(20);
      proxy.disconnect();
      await waitFor(async () => (await t.redis.pttl(entryKey(t, id))) <= 60_000);
      const strategy: unknown = t.app.get(CacheStrategy);
      expect(await (strategy as { sweep(): Promise<unknown> }).sweep()).toMatchObject({ failed: 1 });
      expect(await t.redis.exists(entryKey(t, id))).toBe(1);
      const read = await t.http().get(`/users/${id}`).expect(200);
      expect(read.body.name).toBe('Hot');
      expect(read.headers['cache-status']).toMatch(/^refresh-ahead; hit; fwd=stale; ttl=-\d+; detail=stale-if-error$/);
    } finally {
      proxy.restore();
      await t.close();
      await proxy.close();
    }
  });
});

describe.each<AdapterName>(['express', 'fastify'])("the blog's list (%s) while Postgres is cut", (adapter) => {
  it('answers the full list and a page from grace copies, and never a copy a write replaced', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const blog = await startBlogTestApp({
      adapter,
      env: { ...ENV, DATABASE_URL: url, BLOG_LIST_TTL_SECONDS: '1' },
      directDatabaseUrl: DIRECT_DATABASE_URL,
    });
    try {
      const { keys, chunksUpTo } = ((chunks: ListChunks) => ({
        keys: chunks.keys,
        chunksUpTo: (maxId: number) => chunks.chunksUpTo(maxId),
      }))(blog.app.get(ListChunks));
      const posts = (await blog.db.query(POSTS_AS_JSON)).rows as { id: number }[];
      const chunks = chunksUpTo(posts.at(-1)!.id);
      expect(chunks).toBeGreaterThan(2);
      const first = await blog.http().get('/posts').expect(200);
      expect(first.headers['x-cache']).toBe('MISS');
      expect((await blog.http().get('/posts?limit=10&after=600').expect(200)).headers['x-cache']).toBe('MISS');
      // Past the list's TTL (1 s), within its grace (60 s): every chunk and the page are grace copies.
      const stored = [...Array.from({ length: chunks }, (_, chunk) => keys.chunk(chunk)), keys.page(600, 10)];
      await waitFor(async () => {
        const remaining = await Promise.all(stored.map((key) => blog.redis.pttl(key)));
        return remaining.every((ms) => ms > 0 && ms <= 60_000);
      });

      proxy.disconnect();
      const list = await blog.http().get('/posts').expect(200);
      expect(list.headers['x-cache']).toBe('STALE');
      expect(list.headers['cache-status']).toBe('blog-list; hit; fwd=stale; detail=stale-if-error');
      expect(Number(list.headers.age)).toBeGreaterThanOrEqual(1);
      expect(list.body).toEqual(posts);
      const page = await blog.http().get('/posts?limit=10&after=600').expect(200);
      expect(page.headers['x-cache']).toBe('STALE');
      expect(page.headers['cache-status']).toBe('blog-list; hit; fwd=stale; detail=stale-if-error');
      expect(page.body).toEqual(posts.filter((post) => post.id > 600).slice(0, 10));
      proxy.restore();

      // A write to post 601 replaces chunk 1 and every page over it: their grace copies go with it.
      await waitFor(async () => (await blog.http().put('/posts/601').send({ title: 'Rewritten' })).status === 200);
      expect(await blog.redis.exists(keys.chunk(1))).toBe(0);
      proxy.disconnect();
      await blog.http().get('/posts?limit=10&after=600').expect(503);
      await blog.http().get('/posts').expect(503);
      const stats = (await blog.http().get('/stats').expect(200)).body as { list: { chunksStale: number } };
      expect(stats.list.chunksStale).toBeGreaterThanOrEqual(chunks);
    } finally {
      proxy.restore();
      await blog.close();
      await proxy.close();
    }
  });
});
