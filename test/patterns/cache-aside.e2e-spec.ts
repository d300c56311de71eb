import { UserStore } from '@app/users';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { describeCacheStrategyContract } from '../contract/cache-strategy.contract';
import { holdNextLoad } from '../support/gate';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait-for';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';

describeCacheStrategyContract(CACHE_ASIDE);

describe.each(ADAPTERS)('cache-aside on %s', (adapter) => {
  let t: TestApp;

  beforeAll(async () => {
    // Without grace copies, so that an entry's TTL in Redis is its TTL (grace: test/resilience/grace.e2e-spec.ts).
    t = await startTestApp(CACHE_ASIDE, {
      adapter,
      env: { CACHE_TTL_SECONDS: '300', CACHE_TTL_JITTER: '0.1', CACHE_GRACE_SECONDS: '0' },
    });
  });

  afterAll(async () => {
    await t.close();
  });

  async function create(): Promise<{ id: number; name: string; age: number }> {
    return (await t.http().post('/users').send(newUser()).expect(201)).body;
  }

  it('fills Redis on a miss with a jittered TTL, and a hit does not touch Postgres', async () => {
    const user = await create();
    expect(await t.redis.exists(entryKey(t, user.id))).toBe(0);
    const before = await t.stats();
    const miss = await t.http().get(`/users/${user.id}`).expect(200);
    expect(miss.headers['x-cache']).toBe('MISS');
    const ttl = await t.redis.pttl(entryKey(t, user.id));
    expect(ttl).toBeGreaterThan(270_000 - 1000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    const afterMiss = await t.stats();
    expect(afterMiss.dbReads - before.dbReads).toBe(1);
    for (let i = 0; i < 5; i += 1) {
      expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');
    }
    const afterHits = await t.stats();
    expect(afterHits.dbReads).toBe(afterMiss.dbReads);
    expect(afterHits.hits - afterMiss.hits).toBe(5);
  });

  it('invalidates on write, so the next read is a miss that returns the new row', async () => {
    const user = await create();
    await t.http().get(`/users/${user.id}`).expect(200);
    await t.http().patch(`/users/${user.id}`).send({ name: 'After' }).expect(200);
    expect(await t.redis.exists(entryKey(t, user.id))).toBe(0);
    const read = await t.http().get(`/users/${user.id}`).expect(200);
    expect(read.headers['x-cache']).toBe('MISS');
    expect(read.body.name).toBe('After');
  });

  it('never stores the pre-update row when a slow reader races a writer', async () => {
    const user = await create();
    // The reader reads the old row from Postgres, then stalls before filling the cache.
    const gate = holdNextLoad(t.app.get(UserStore));
    const slowRead = t
      .http()
      .get(`/users/${user.id}`)
      .then((response) => response);
    await gate.reached;
    await t.http().patch(`/users/${user.id}`).send({ name: 'Newer' }).expect(200);
    gate.open();
    const stale = await slowRead;
    expect(stale.body.name).toBe(user.name);
    const cached = await t.redis.get(entryKey(t, user.id));
    if (cached !== null) expect(JSON.parse(cached)).toMatchObject({ name: 'Newer', version: 2 });
    expect(cached).toBeNull();
    expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('Newer');
  });

  it('collapses 100 concurrent reads of a cold key into one Postgres read', async () => {
    const user = await create();
    const before = await t.stats();
    const responses = await Promise.all(Array.from({ length: 100 }, () => t.http().get(`/users/${user.id}`)));
    expect(responses.every((response) => response.status === 200 && response.body.id === user.id)).toBe(true);
    const after = await t.stats();
    expect(after.dbReads - before.dbReads).toBe(1);
  });

  it('POST /cache/clear removes this app’s keys only', async () => {
    const user = await create();
    await t.http().get(`/users/${user.id}`).expect(200);
    const foreignKey = `other-app-${t.prefix}{user:${user.id}}`;
    await t.redis.set(foreignKey, 'keep', 'EX', 60);
    await t.http().post('/cache/clear').expect(204);
    expect(await t.redis.exists(entryKey(t, user.id))).toBe(0);
    expect(await t.redis.get(foreignKey)).toBe('keep');
    await t.redis.del(foreignKey);
    expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('MISS');
  });
});

describe('cache-aside admin token', () => {
  it('requires the bearer token on /cache/clear when ADMIN_TOKEN is set', async () => {
    const t = await startTestApp(CACHE_ASIDE, { env: { ADMIN_TOKEN: 'correct-horse-battery' } });
    try {
      expect((await t.http().post('/cache/clear').expect(401)).body).toMatchObject({
        statusCode: 401,
        error: 'Unauthorized',
      });
      await t.http().post('/cache/clear').set('Authorization', 'Bearer wrong-token-value').expect(401);
      await t.http().post('/cache/clear').set('Authorization', 'Bearer correct-horse-battery').expect(204);
    } finally {
      await t.close();
    }
  });
});

describe.each(ADAPTERS)('cache-aside when Redis fails, on %s', (adapter) => {
  let redis: RedisServer;
  let t: TestApp;

  beforeEach(async () => {
    redis = await RedisServer.start();
    t = await startTestApp(CACHE_ASIDE, { adapter, env: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '100' } });
  });

  afterEach(async () => {
    redis.thaw();
    await t.close();
    await redis.stop();
  });

  it('serves from Postgres with BYPASS within the timeout while Redis hangs, and serves nothing stale after', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    await t.http().get(`/users/${user.id}`).expect(200);
    expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');

    redis.freeze();
    const started = Date.now();
    const bypass = await t.http().get(`/users/${user.id}`).expect(200);
    // Not a speed claim: a hung Redis must cost one command timeout (100 ms), not a hang.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(bypass.headers['x-cache']).toBe('BYPASS');
    const written = await t.http().patch(`/users/${user.id}`).send({ name: 'Written while Redis hung' }).expect(200);
    expect(written.body.name).toBe('Written while Redis hung');
    expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('Written while Redis hung');

    redis.thaw();
    // Redis still holds the pre-outage entry; it must never be served again.
    const after = await t.http().get(`/users/${user.id}`).expect(200);
    expect(after.body.name).toBe('Written while Redis hung');
    const again = await t.http().get(`/users/${user.id}`).expect(200);
    expect(again.body.name).toBe('Written while Redis hung');
    expect(again.headers['x-cache']).toBe('HIT');
    expect((await t.stats()).errors).toBeGreaterThan(0);
  });

  it('stops waiting on a hung Redis after 3 failed reads (circuit breaker), and uses it again once it answers', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    await t.http().get(`/users/${user.id}`).expect(200);
    const errorsBefore = (await t.stats()).errors;
    redis.freeze();
    for (let read = 0; read < 20; read += 1) {
      expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('BYPASS');
    }
    // Each read that tried Redis is one failed command; without the breaker all 20 would (see the next test).
    // A probe may go through when the breaker half-opens (after 250 ms, then 500 ms, …) on a slow machine.
    expect((await t.stats()).errors - errorsBefore).toBeLessThanOrEqual(8);
    redis.thaw();
    await waitFor(async () => (await t.http().get(`/users/${user.id}`)).headers['x-cache'] === 'HIT');
  });

  it('with REDIS_BREAKER_FAILURES=0, waits the command timeout on every read instead', async () => {
    const plain = await startTestApp(CACHE_ASIDE, {
      adapter,
      env: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '100', REDIS_BREAKER_FAILURES: '0' },
    });
    try {
      const user = (await plain.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      // The create's outbox row is applied to Redis by the outbox's sweep (a second or so later): once it is gone,
      // the reads below are the only Redis commands, and each counts one failure. (A sweep that fell inside the
      // freeze counted a 21st, 1 fresh-clone CI run in 4.)
      await waitFor(
        async () =>
          Number((await plain.db.query<{ n: string }>('SELECT count(*) AS n FROM cache_invalidations')).rows[0]!.n) ===
          0,
        10_000,
      );
      const errorsBefore = (await plain.stats()).errors;
      redis.freeze();
      for (let read = 0; read < 20; read += 1) await plain.http().get(`/users/${user.id}`).expect(200);
      expect((await plain.stats()).errors - errorsBefore).toBe(20);
    } finally {
      redis.thaw();
      await plain.close();
    }
  });

  it('keeps answering with Redis stopped, and uses it again once it is back', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    await redis.stop();
    const bypass = await t.http().get(`/users/${user.id}`).expect(200);
    expect(bypass.headers['x-cache']).toBe('BYPASS');
    await t
      .http()
      .put(`/users/${user.id}`)
      .send(newUser({ name: 'During outage' }))
      .expect(200);
    // Serving from Postgres meanwhile: up for a load balancer, and says why it is degraded.
    const health = await t.http().get('/health').expect(200);
    expect(health.body).toMatchObject({
      status: 'degraded',
      info: { postgres: { status: 'up' } },
      error: { redis: { status: 'down' } },
    });

    await redis.launch();
    await waitFor(async () => (await t.http().get(`/users/${user.id}`)).headers['x-cache'] === 'MISS');
    const hit = await t.http().get(`/users/${user.id}`).expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body.name).toBe('During outage');
  });
});

describe.each(ADAPTERS)('cache-aside when the network to Redis is cut, on %s', (adapter) => {
  it('replays the invalidations it could not send, before serving that user from Redis again', async () => {
    const redis = await RedisServer.start();
    const proxy = await TcpProxy.start('127.0.0.1', redis.port);
    const t = await startTestApp(CACHE_ASIDE, { adapter, env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } });
    try {
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number; name: string };
      await t.http().get(`/users/${user.id}`).expect(200);
      expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');

      proxy.disconnect();
      await t.http().patch(`/users/${user.id}`).send({ name: 'Written while cut off' }).expect(200);
      expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('BYPASS');
      // Redis itself never saw the write: it still holds the old entry.
      const direct = new Redis(redis.port, '127.0.0.1');
      expect(JSON.parse((await direct.get(entryKey(t, user.id))) ?? 'null')).toMatchObject({ name: user.name });

      proxy.restore();
      await waitFor(async () => (await t.http().get(`/users/${user.id}`)).headers['x-cache'] !== 'BYPASS');
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.body.name).toBe('Written while cut off');
      expect(JSON.parse((await direct.get(entryKey(t, user.id))) ?? 'null')).toMatchObject({
        name: 'Written while cut off',
      });
      direct.disconnect();
    } finally {
      await t.close();
      await proxy.close();
      await redis.stop();
    }
  });
});

describe('cache-aside started while Redis is down', () => {
  it('starts, serves from Postgres, and reconnects by itself', async () => {
    const redis = await RedisServer.start();
    await redis.stop();
    const t = await startTestApp(CACHE_ASIDE, { env: { REDIS_URL: redis.url } });
    try {
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('BYPASS');
      await redis.launch();
      await waitFor(async () => (await t.http().get(`/users/${user.id}`)).headers['x-cache'] !== 'BYPASS');
      expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');
    } finally {
      await t.close();
      await redis.stop();
    }
  });
});
