import { RecordCache } from '@app/cache-core';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { describeCacheStrategyContract } from '../contract/cache-strategy.contract';
import { Gate } from '../support/gate';
import { DIRECT_DATABASE_URL, DIRECT_REDIS_URL, proxyInFront } from '../support/tcp-proxy';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

describeCacheStrategyContract(WRITE_THROUGH);

interface Cached {
  id: number;
  name: string;
  version: number;
}

async function cached(t: TestApp, id: number): Promise<Cached | null> {
  return JSON.parse((await t.redis.get(entryKey(t, id))) ?? 'null') as Cached | null;
}

describe.each(ADAPTERS)('write-through on %s', (adapter) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(WRITE_THROUGH, { adapter });
  });

  afterAll(async () => {
    await t.close();
  });

  it('stores every created and updated row in Redis before answering, so reads are hits with no Postgres read', async () => {
    const before = await t.stats();
    const user = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Created' }))
        .expect(201)
    ).body as Cached;
    expect(await cached(t, user.id)).toMatchObject({ id: user.id, name: 'Created', version: 1 });
    expect(await t.redis.pttl(entryKey(t, user.id))).toBeGreaterThan(0);
    expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');

    await t.http().patch(`/users/${user.id}`).send({ name: 'Updated' }).expect(200);
    expect(await cached(t, user.id)).toMatchObject({ name: 'Updated', version: 2 });
    const read = await t.http().get(`/users/${user.id}`).expect(200);
    expect(read.headers['x-cache']).toBe('HIT');
    expect(read.body.name).toBe('Updated');
    const after = await t.stats();
    expect(after.dbReads).toBe(before.dbReads);
    expect(after.cacheWrites - before.cacheWrites).toBe(2);
  });

  it('removes a deleted user from Postgres and Redis', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as Cached;
    await t.http().delete(`/users/${user.id}`).expect(204);
    expect(await t.redis.exists(entryKey(t, user.id))).toBe(0);
    expect((await t.db.query('SELECT 1 FROM users WHERE id = $1', [user.id])).rowCount).toBe(0);
    await t.http().get(`/users/${user.id}`).expect(404);
  });

  it('keeps the newer version when two updates’ cache writes arrive in the wrong order', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as Cached;
    const cache = t.app.get(RecordCache);
    const original = cache.setIfNewer.bind(cache);
    const gate = new Gate();
    // The first update commits v2 in Postgres, then its cache write is held back...
    cache.setIfNewer = async (value, ttlMs) => {
      cache.setIfNewer = original;
      await gate.wait();
      return original(value, ttlMs);
    };
    const first = t
      .http()
      .patch(`/users/${user.id}`)
      .send({ name: 'First (v2)' })
      .then((response) => response);
    await gate.reached;
    // ...while the second commits v3 and writes it to Redis first.
    await t.http().patch(`/users/${user.id}`).send({ name: 'Second (v3)' }).expect(200);
    expect(await cached(t, user.id)).toMatchObject({ name: 'Second (v3)', version: 3 });
    gate.open();
    expect((await first).status).toBe(200);
    expect(await cached(t, user.id)).toMatchObject({ name: 'Second (v3)', version: 3 });
    expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('Second (v3)');
  });

  it('leaves Redis untouched when Postgres rejects the write, and counts 404 and 409 as rejected, not failed', async () => {
    const taken = (await t.http().post('/users').send(newUser()).expect(201)).body as Cached & { email: string };
    const user = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Keep me' }))
        .expect(201)
    ).body as Cached;
    const before = await t.stats();
    await t.http().patch(`/users/${user.id}`).send({ email: taken.email.toUpperCase() }).expect(409);
    await t.http().patch('/users/2147483647').send({ name: 'nobody' }).expect(404);
    await t.http().post('/users').send({ name: 'x' }).expect(400);
    expect(await cached(t, user.id)).toMatchObject({ name: 'Keep me', version: 1 });
    const after = await t.stats();
    expect(Number(after.totalWrites) - Number(before.totalWrites)).toBe(2);
    expect(Number(after.rejectedWrites) - Number(before.rejectedWrites)).toBe(2);
    expect(Number(after.failedWrites)).toBe(Number(before.failedWrites));
    expect(Number(after.successfulWrites)).toBe(Number(before.successfulWrites));
  });
});

describe.each(ADAPTERS)('write-through when a dependency is cut off, on %s', (adapter) => {
  it('answers 503 and leaves Redis untouched while Postgres is unreachable, then recovers', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const t = await startTestApp(WRITE_THROUGH, {
      adapter,
      env: { DATABASE_URL: url },
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    try {
      const user = (
        await t
          .http()
          .post('/users')
          .send(newUser({ name: 'Before outage' }))
          .expect(201)
      ).body as Cached;
      proxy.disconnect();
      const started = Date.now();
      const failed = await t.http().patch(`/users/${user.id}`).send({ name: 'Lost' }).expect(503);
      expect(Date.now() - started).toBeLessThan(10_000);
      // A pooled connection cut while idle fails on first use: Postgres may or may not have seen the statement.
      expect(failed.body).toEqual({
        statusCode: 503,
        message: expect.stringMatching(/database unavailable.*(outcome of this write is unknown|not applied)/i),
        error: 'Service Unavailable',
        outcome: expect.stringMatching(/^(unknown|not-applied)$/),
      });
      expect(failed.headers['retry-after']).toBe('1');
      expect(JSON.stringify(failed.body)).not.toMatch(/ECONN|terminated|at .*\.js/);
      expect(await cached(t, user.id)).toMatchObject({ name: 'Before outage', version: 1 });
      expect(Number((await t.stats()).failedWrites)).toBe(1);
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('Before outage');

      proxy.restore();
      await waitFor(
        async () => (await t.http().patch(`/users/${user.id}`).send({ name: 'After outage' })).status === 200,
      );
      expect(await cached(t, user.id)).toMatchObject({ name: 'After outage', version: 2 });
    } finally {
      await t.close();
      await proxy.close();
    }
  });

  it('still answers success when Redis fails after the commit, and leaves nothing stale once it is back', async () => {
    const { proxy, url: proxiedRedisUrl } = await proxyInFront(DIRECT_REDIS_URL, 6379);
    const t = await startTestApp(WRITE_THROUGH, {
      adapter,
      env: { REDIS_URL: proxiedRedisUrl },
      direct: { redisUrl: DIRECT_REDIS_URL },
    });
    try {
      const user = (
        await t
          .http()
          .post('/users')
          .send(newUser({ name: 'v1' }))
          .expect(201)
      ).body as Cached;
      proxy.disconnect();
      const updated = await t.http().patch(`/users/${user.id}`).send({ name: 'v2 while Redis is away' }).expect(200);
      expect(updated.body.name).toBe('v2 while Redis is away');
      const stats = await t.stats();
      expect(stats.cacheWriteFailures).toBe(1);
      expect(stats.successfulWrites).toBe(2);
      // Behind the cut, Redis still has v1.
      expect(await cached(t, user.id)).toMatchObject({ name: 'v1', version: 1 });
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('v2 while Redis is away');

      proxy.restore();
      await waitFor(async () => (await t.http().get(`/users/${user.id}`)).headers['x-cache'] !== 'BYPASS');
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('v2 while Redis is away');
      const entry = await cached(t, user.id);
      if (entry !== null) expect(entry).toMatchObject({ name: 'v2 while Redis is away', version: 2 });
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
