import { ChangeConfirmations } from '@app/cache-core';
import type { PatternAppDefinition } from '@app/shell';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { AppProcess } from '../support/app-process';
import { rawGet, startBlogTestApp } from '../support/blog-app';
import { deleteKeys } from '../support/redis-client';
import { DIRECT_DATABASE_URL, DIRECT_REDIS_URL, proxyInFront, type TcpProxy } from '../support/tcp-proxy';
import { entryKey, newUser, nextUserId, startTestApp, type TestApp, uniqueName } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * The invalidation outbox across instances. Instance A reaches Redis through a proxy the test cuts (a one-sided
 * partition: A still reaches Postgres, B reaches both); B reaches Redis directly. Both run on the shared single
 * Redis, also in the cluster run, since a cluster cannot sit behind one proxy. Each case is also run with the
 * outbox off (`INVALIDATION_OUTBOX=false`), where B must be seen serving the stale entry: that is what the outbox
 * fixes, and it shows each case can fail.
 */
type User = { id: number; name: string; version: number };

/** The body with its version, which the API sends as the `ETag`. */
function withVersion(response: { body: unknown; headers: Record<string, string> }): User {
  return { ...(response.body as User), version: Number(JSON.parse(response.headers.etag!)) };
}

interface Pair {
  a: TestApp;
  b: TestApp;
  proxy: TcpProxy;
  schema: string;
  prefix: string;
}

/** A on the proxy, B direct, on one fresh schema and key prefix; neither drops them on close. */
async function startPair(definition: PatternAppDefinition, outbox: boolean): Promise<Pair> {
  const schema = uniqueName(`${definition.pattern}_outbox`);
  const prefix = `${schema}:`;
  const { proxy, url } = await proxyInFront(DIRECT_REDIS_URL, 6379);
  const env = {
    DATABASE_SCHEMA: schema,
    REDIS_KEY_PREFIX: prefix,
    INVALIDATION_OUTBOX: String(outbox),
    REFRESH_INTERVAL_MS: '0',
    OUTBOX_SWEEP_MS: '200',
  };
  const b = await startTestApp(definition, { env: { ...env, REDIS_URL: DIRECT_REDIS_URL }, cleanUp: false });
  const a = await startTestApp(definition, {
    env: { ...env, REDIS_URL: url },
    cleanUp: false,
    direct: { redisUrl: DIRECT_REDIS_URL },
  });
  return { a, b, proxy, schema, prefix };
}

async function dropPair(pair: Pair): Promise<void> {
  await pair.a.close();
  await pair.proxy.close();
  await pair.b.db.query(`DROP SCHEMA IF EXISTS "${pair.schema}" CASCADE`);
  await deleteKeys(pair.b.redis, `${pair.prefix}*`);
  await pair.b.close();
}

/** The version Redis holds for the user's entry; null when there is none. */
async function cachedVersion(t: TestApp, id: number): Promise<number | null> {
  const raw = await t.redis.get(entryKey(t, id));
  return raw === null ? null : ((JSON.parse(raw) as User | null)?.version ?? 0);
}

async function cachedUser(t: TestApp): Promise<User> {
  const user = withVersion(await t.http().post('/users').send(newUser()).expect(201));
  await t.http().get(`/users/${user.id}`).expect(200);
  await t.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'HIT');
  return user;
}

async function outboxOf(t: TestApp): Promise<Record<string, unknown>> {
  return (await t.stats()).outbox as Record<string, unknown>;
}

async function outboxRows(t: TestApp): Promise<number> {
  return Number((await t.db.query<{ count: string }>('SELECT count(*) FROM cache_invalidations')).rows[0]!.count);
}

describe.each([CACHE_ASIDE, READ_THROUGH, WRITE_THROUGH, REFRESH_AHEAD])(
  '$pattern: the invalidation outbox',
  (definition) => {
    describe('A cut off from Redis, B not', () => {
      let pair: Pair;

      beforeAll(async () => {
        pair = await startPair(definition, true);
        // A waits for B's confirmation only once it has heard that B reaches Redis (B's heartbeat).
        await waitFor(() => Promise.resolve(pair.a.app.get(ChangeConfirmations).peerReachesRedis), 10_000);
      });
      afterAll(() => dropPair(pair));
      afterEach(() => pair.proxy.restore());

      it('a write through A is never read stale through B once A has answered', async () => {
        const { a, b, proxy } = pair;
        const user = await cachedUser(b);
        proxy.disconnect();
        const started = Date.now();
        const updated = withVersion(
          await a.http().patch(`/users/${user.id}`).send({ name: 'Written through A' }).expect(200),
        );
        const answeredMs = Date.now() - started;
        expect(updated.version).toBe(user.version + 1);
        // B applied A's change from the outbox before A answered: the very next read through B has it.
        const read = await b.http().get(`/users/${user.id}`).expect(200);
        expect(withVersion(read)).toMatchObject({ name: 'Written through A', version: updated.version });
        expect([null, updated.version]).toContain(await cachedVersion(b, user.id));
        expect(answeredMs).toBeLessThan(5000);
        await waitFor(async () => (await outboxRows(b)) === 0);
        // What /stats says of it: A waited for a peer's confirmation, B applied A's change.
        expect(await outboxOf(a)).toMatchObject({ listening: true, unapplied: 0 });
        expect((await outboxOf(a)).confirmedByPeers).toBeGreaterThanOrEqual(1);
        expect((await outboxOf(b)).applied).toBeGreaterThanOrEqual(1);
      });

      it('a delete and a create through A are seen through B at once, cached absence included', async () => {
        const { a, b, proxy } = pair;
        const user = await cachedUser(b);
        const nextId = await nextUserId(b);
        // B has cached the next id as absent (read-through) or at least read it as missing.
        await b.http().get(`/users/${nextId}`).expect(404);
        proxy.disconnect();
        await a.http().delete(`/users/${user.id}`).expect(204);
        await b.http().get(`/users/${user.id}`).expect(404);
        const created = (await a.http().post('/users').send(newUser()).expect(201)).body as User;
        expect(created.id).toBe(nextId);
        await b.http().get(`/users/${nextId}`).expect(200);
      });
    });

    describe('A cut off from Redis and killed (kill -9), no other instance running', () => {
      it('the next instance to start applies the change before it serves from Redis, and so does A restarted', async () => {
        const schema = uniqueName(`${definition.pattern}_crash`);
        const env = { DATABASE_SCHEMA: schema, REDIS_KEY_PREFIX: `${schema}:`, REFRESH_INTERVAL_MS: '0' };
        const first = await startTestApp(definition, { env: { ...env, REDIS_URL: DIRECT_REDIS_URL }, cleanUp: false });
        const user = await cachedUser(first);
        await first.close();
        const { proxy, url } = await proxyInFront(DIRECT_REDIS_URL, 6379);
        let a = await AppProcess.start(definition.name, { ...env, REDIS_URL: url });
        let b: TestApp | undefined;
        try {
          await waitFor(() => a.healthy(), 30_000);
          proxy.disconnect();
          const answer = await a.fetch(`/users/${user.id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'Written before the crash' }),
          });
          expect(answer?.status).toBe(200);
          expect(await a.stop('SIGKILL')).toMatchObject({ ended: 'SIGKILL' });
          b = await startTestApp(definition, { env: { ...env, REDIS_URL: DIRECT_REDIS_URL }, cleanUp: false });
          // Redis still held the old entry when B started: B's catch-up dropped it before B served a read.
          const read = await b.http().get(`/users/${user.id}`).expect(200);
          expect(withVersion(read)).toMatchObject({ name: 'Written before the crash', version: user.version + 1 });
          expect(await outboxRows(b)).toBe(0);
          proxy.restore();
          a = await AppProcess.start(definition.name, { ...env, REDIS_URL: url });
          await waitFor(() => a.healthy(), 30_000);
          expect((await a.fetch(`/users/${user.id}`))?.body).toMatchObject({ name: 'Written before the crash' });
        } finally {
          await a.cleanUp();
          await proxy.close();
          if (b !== undefined) {
            await b.db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
            await deleteKeys(b.redis, `${schema}:*`);
            await b.close();
          }
        }
      });
    });
  },
);

describe('cache-aside with the outbox off (the control: what the outbox fixes)', () => {
  let pair: Pair;

  beforeAll(async () => {
    pair = await startPair(CACHE_ASIDE, false);
  });
  afterAll(() => dropPair(pair));

  it('B serves the old entry after a write through A that could not reach Redis', async () => {
    const { a, b, proxy } = pair;
    const user = await cachedUser(b);
    proxy.disconnect();
    await a.http().patch(`/users/${user.id}`).send({ name: 'Written through A' }).expect(200);
    const read = await b.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'HIT');
    expect(withVersion(read)).toMatchObject({ name: user.name, version: user.version });
    proxy.restore();
    // With the outbox off, its rows are pruned unapplied, so the table does not grow.
    await waitFor(async () => (await outboxRows(b)) === 0);
  });
});

describe.each([CACHE_ASIDE, WRITE_THROUGH])('$pattern: an instance whose outbox feed is down', (definition) => {
  /**
   * B reaches Postgres through a proxy of its own: cut, then restored, its feed backs off before it listens again,
   * and hears nothing meanwhile. A, cut off from Redis, has heard no heartbeat for a while, so it answers its write
   * without waiting for a confirmation. B must not take the old entry in Redis for an answer then.
   */
  let a: TestApp;
  let b: TestApp;
  let redisProxy: TcpProxy;
  let postgresProxy: TcpProxy;

  beforeAll(async () => {
    const schema = uniqueName(`${definition.pattern}_deaf`);
    const env = {
      DATABASE_SCHEMA: schema,
      REDIS_KEY_PREFIX: `${schema}:`,
      REFRESH_INTERVAL_MS: '0',
      OUTBOX_SWEEP_MS: '200',
    };
    const database = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    postgresProxy = database.proxy;
    b = await startTestApp(definition, {
      env: { ...env, REDIS_URL: DIRECT_REDIS_URL, DATABASE_URL: database.url },
      cleanUp: false,
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    const redis = await proxyInFront(DIRECT_REDIS_URL, 6379);
    redisProxy = redis.proxy;
    a = await startTestApp(definition, {
      env: { ...env, REDIS_URL: redis.url },
      direct: { redisUrl: DIRECT_REDIS_URL },
    });
  });
  afterAll(async () => {
    redisProxy.restore();
    postgresProxy.restore();
    await b.close();
    await a.close();
    await redisProxy.close();
    await postgresProxy.close();
  });

  it('B reads Postgres, not its old entry, until its feed is back and caught up', async () => {
    const user = await cachedUser(b);
    postgresProxy.disconnect();
    const confirmations = a.app.get(ChangeConfirmations);
    await waitFor(async () => !confirmations.peerReachesRedis && !(await outboxOf(b)).listening, 10_000);
    postgresProxy.restore();
    redisProxy.disconnect();
    const updated = withVersion(
      await a.http().patch(`/users/${user.id}`).send({ name: 'Written through A' }).expect(200),
    );
    expect(updated.version).toBe(user.version + 1);
    // The old entry is still in Redis: nobody has applied A's change yet.
    const read = await b.http().get(`/users/${user.id}`).expect(200);
    expect(withVersion(read)).toMatchObject({ name: 'Written through A', version: updated.version });
    // B's feed comes back and applies A's change: the old entry goes, and B uses Redis again.
    await waitFor(
      async () => (await outboxOf(b)).listening === true && (await cachedVersion(b, user.id)) !== user.version,
    );
    await b.http().get(`/users/${user.id}`).expect(200);
    const hit = await b.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'HIT');
    expect(withVersion(hit)).toMatchObject({ name: 'Written through A', version: updated.version });
  });

  it('B, cut off from Postgres and deaf, answers its entry as stale-if-error', async () => {
    const user = await cachedUser(b);
    postgresProxy.disconnect();
    await waitFor(async () => !(await outboxOf(b)).listening);
    const read = await b.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'STALE');
    expect(withVersion(read)).toMatchObject({ name: user.name, version: user.version });
    expect(read.headers['cache-status']).toMatch(/; hit; fwd=stale; ttl=-?\d+; detail=stale-if-error$/);
    // Postgres now hangs instead of refusing: loads are known to be failing, so the entry is answered at once
    // rather than after the hard timeout (2 s), while one load in the background finds out when Postgres is back.
    postgresProxy.restore();
    postgresProxy.stall();
    const started = Date.now();
    await b.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'STALE');
    expect(Date.now() - started).toBeLessThan(1000);
    postgresProxy.restore();
    await waitFor(async () => (await outboxOf(b)).listening === true);
  });
});

describe.each([CACHE_ASIDE, REFRESH_AHEAD])('$pattern: a writer whose own feed was down', (definition) => {
  /**
   * A reaches Redis and Postgres through proxies of its own, B reaches Postgres through one too. A's Postgres is
   * cut and restored, so A heard no heartbeat for a while: not because nobody reaches Redis, but because A could
   * not hear. Then A is cut off from Redis and writes, while everything B hears from Postgres comes 300 ms late.
   * A must wait until the change is applied (it cannot hear the confirmation, so it asks Postgres), or B, which
   * reaches Redis and has not heard of the change yet, answers its old entry after A acknowledged the write.
   */
  let a: TestApp;
  let b: TestApp;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    const schema = uniqueName(`${definition.pattern}_deaf_writer`);
    const env = {
      DATABASE_SCHEMA: schema,
      REDIS_KEY_PREFIX: `${schema}:`,
      REFRESH_INTERVAL_MS: '0',
      OUTBOX_SWEEP_MS: '200',
      OUTBOX_CONFIRM_WAIT_MS: '5000',
    };
    const bDatabase = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    b = await startTestApp(definition, {
      env: { ...env, REDIS_URL: DIRECT_REDIS_URL, DATABASE_URL: bDatabase.url },
      cleanUp: false,
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    const aDatabase = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const aRedis = await proxyInFront(DIRECT_REDIS_URL, 6379);
    proxies.push(bDatabase.proxy, aDatabase.proxy, aRedis.proxy);
    a = await startTestApp(definition, {
      env: { ...env, REDIS_URL: aRedis.url, DATABASE_URL: aDatabase.url },
      direct: { redisUrl: DIRECT_REDIS_URL, databaseUrl: DIRECT_DATABASE_URL },
    });
  });
  afterAll(async () => {
    for (const proxy of proxies) proxy.restore();
    await b.close();
    await a.close();
    for (const proxy of proxies) await proxy.close();
  });

  it('A waits for the change to be applied before it answers, and B never serves the old entry after', async () => {
    const [bDatabase, aDatabase, aRedis] = proxies as [TcpProxy, TcpProxy, TcpProxy];
    const user = await cachedUser(b);
    await waitFor(async () => (await outboxOf(a)).listening === true && (await outboxOf(b)).listening === true);
    aDatabase.disconnect();
    // Deaf long enough that the last heartbeat A heard is too old to count.
    const confirmations = a.app.get(ChangeConfirmations);
    await waitFor(async () => !confirmations.peerReachesRedis && (await outboxOf(a)).listening === false, 10_000);
    aDatabase.restore();
    aRedis.disconnect();
    bDatabase.delay(600);
    const confirmedBefore = Number((await outboxOf(a)).confirmedByPeers);
    const updated = withVersion(
      await a.http().patch(`/users/${user.id}`).send({ name: 'Written through A' }).expect(200),
    );
    expect(updated.version).toBe(user.version + 1);
    // What B already heard stays 600 ms late; its next load need not be.
    bDatabase.delay(0);
    const read = await b.http().get(`/users/${user.id}`).expect(200);
    expect(withVersion(read)).toMatchObject({ name: 'Written through A', version: updated.version });
    expect(await cachedVersion(b, user.id)).not.toBe(user.version);
    expect(Number((await outboxOf(a)).confirmedByPeers)).toBe(confirmedBefore + 1);
  });
});

describe('blog: a post written through an instance cut off from Redis', () => {
  it('is seen through another instance at once: the post, its page and the full list', async () => {
    const b = await startBlogTestApp({
      env: { REDIS_URL: DIRECT_REDIS_URL, BLOG_SEED_POSTS: '1200', OUTBOX_SWEEP_MS: '200' },
    });
    const { proxy, url } = await proxyInFront(DIRECT_REDIS_URL, 6379);
    const a = await startBlogTestApp({
      env: {
        REDIS_URL: url,
        DATABASE_SCHEMA: b.schema,
        REDIS_KEY_PREFIX: b.prefix,
        BLOG_SEED_POSTS: '1200',
        OUTBOX_SWEEP_MS: '200',
      },
      cleanUp: false,
      directRedisUrl: DIRECT_REDIS_URL,
    });
    try {
      for (let round = 0; round < 2; round += 1) {
        await b.http().get('/posts/5').expect(200);
        await b.http().get('/posts?limit=10').expect(200);
        expect((await rawGet(`${b.url}/posts`)).status).toBe(200);
      }
      expect((await rawGet(`${b.url}/posts`)).headers['x-cache']).toBe('HIT');
      await waitFor(() => Promise.resolve(a.app.get(ChangeConfirmations).peerReachesRedis), 10_000);
      proxy.disconnect();
      await a.http().put('/posts/5').send({ title: 'Written through A' }).expect(200);
      expect((await b.http().get('/posts/5').expect(200)).body).toMatchObject({ title: 'Written through A' });
      const page = (await b.http().get('/posts?limit=10').expect(200)).body as { id: number; title: string }[];
      expect(page.find((post) => post.id === 5)?.title).toBe('Written through A');
      const list = JSON.parse((await rawGet(`${b.url}/posts`)).body.toString()) as { id: number; title: string }[];
      expect(list).toHaveLength(1200);
      expect(list[4]).toMatchObject({ id: 5, title: 'Written through A' });
    } finally {
      proxy.restore();
      await a.close();
      await proxy.close();
      await b.close();
    }
  });
});
