import { jest } from '@jest/globals';
import { CacheKeys, CacheStrategy, type RefreshAheadStrategy } from '@app/cache-core';
import { UserStore } from '@app/users';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { RedisConnections } from '../../libs/cache-core/src/redis/redis-connections';
import { describeCacheStrategyContract } from '../contract/cache-strategy.contract';
import { holdNextLoad } from '../support/gate';
import { DIRECT_DATABASE_URL, proxyInFront } from '../support/tcp-proxy';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp, type TestAppOptions } from '../support/test-app';
import { waitFor } from '../support/wait-for';

describeCacheStrategyContract(REFRESH_AHEAD);

/**
 * The sweep is driven by the tests, not the clock: REFRESH_INTERVAL_MS=0. Without grace copies, so that an
 * entry's TTL in Redis is its TTL (refresh-ahead with grace: test/resilience/grace.e2e-spec.ts).
 */
const DRIVEN = {
  REFRESH_INTERVAL_MS: '0',
  CACHE_GRACE_SECONDS: '0',
  CACHE_TTL_SECONDS: '2',
  CACHE_TTL_JITTER: '0',
  REFRESH_THRESHOLD: '0.5',
  HOT_MIN_SCORE: '3',
  XFETCH_BETA: '0',
};

function strategyOf(t: TestApp): RefreshAheadStrategy<{ id: number; version: number }, unknown, unknown> {
  const strategy: unknown = t.app.get(CacheStrategy);
  return strategy as RefreshAheadStrategy<{ id: number; version: number }, unknown, unknown>;
}

async function startDriven(adapter: (typeof ADAPTERS)[number], options: TestAppOptions = {}): Promise<TestApp> {
  return startTestApp(REFRESH_AHEAD, { ...options, adapter, env: { ...DRIVEN, ...options.env } });
}

async function createUser(t: TestApp, name = 'Someone'): Promise<{ id: number; name: string }> {
  return (await t.http().post('/users').send(newUser({ name })).expect(201)).body;
}

async function makeHot(t: TestApp, id: number, reads = 5): Promise<void> {
  for (let i = 0; i < reads; i += 1) await t.http().get(`/users/${id}`).expect(200);
  await new Promise((resolve) => setTimeout(resolve, 20));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(ADAPTERS)('refresh-ahead on %s', (adapter) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startDriven(adapter);
  });

  afterAll(async () => {
    await t.close();
  });

  it('keeps a steadily read key warm over three TTLs while a key read once expires', async () => {
    const hot = await createUser(t, 'Hot');
    const cold = await createUser(t, 'Cold');
    // Write-through put both in Redis; start both from an empty cache.
    await Promise.all([t.redis.del(entryKey(t, hot.id)), t.redis.del(entryKey(t, cold.id))]);
    await t.http().get(`/users/${cold.id}`).expect(200);
    const outcomes: string[] = [];
    const until = Date.now() + 3 * 2000 + 300;
    let step = 0;
    while (Date.now() < until) {
      outcomes.push(String((await t.http().get(`/users/${hot.id}`).expect(200)).headers['x-cache']));
      if (step % 2 === 1) await strategyOf(t).sweep();
      step += 1;
      await sleep(100);
    }
    expect(outcomes[0]).toBe('MISS');
    expect(outcomes.slice(1).filter((outcome) => outcome !== 'HIT')).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(20);
    expect(await t.redis.exists(entryKey(t, cold.id))).toBe(0);
    expect((await t.http().get(`/users/${cold.id}`).expect(200)).headers['x-cache']).toBe('MISS');
    const stats = await t.stats();
    expect(stats.proactiveRefreshes).toBeGreaterThanOrEqual(2);
  });

  it('lists hot items with decayed counts, never ids that 404, and forgets keys that stopped being read', async () => {
    const user = await createUser(t);
    await makeHot(t, user.id, 6);
    await t.http().get('/users/2147483000').expect(404);
    const hot = (await t.http().get('/hot-items').expect(200)).body as {
      hotItems: number[];
      accessCounts: Record<string, number>;
    };
    expect(hot.hotItems).toContain(user.id);
    expect(hot.hotItems).not.toContain(2147483000);
    expect(hot.accessCounts[String(user.id)]).toBeGreaterThan(5);
    expect(await t.redis.zscore(t.app.get(CacheKeys).hot(0), '2147483000')).toBeNull();

    // An hour without reads: move the decay landmark back instead of sleeping.
    const meta = t.app.get(CacheKeys).hotMeta(0);
    const t0 = Number(await t.redis.hget(meta, 't0'));
    await t.redis.hset(meta, 't0', String(t0 - 3600));
    const later = (await t.http().get('/hot-items').expect(200)).body as { hotItems: number[] };
    expect(later.hotItems).not.toContain(user.id);
    await t.redis.pexpire(entryKey(t, user.id), 100);
    const sweep = await strategyOf(t).sweep();
    expect(sweep).toMatchObject({ status: 'swept', due: 0, refreshed: 0 });
  });

  it('lets a write that races a refresh win', async () => {
    const user = await createUser(t, 'Old');
    const gate = holdNextLoad(t.app.get(UserStore));
    const refresh = strategyOf(t).refresh(user.id);
    await gate.reached;
    await t.http().patch(`/users/${user.id}`).send({ name: 'New' }).expect(200);
    gate.open();
    expect(await refresh).toBe('superseded');
    expect(JSON.parse((await t.redis.get(entryKey(t, user.id))) ?? 'null')).toMatchObject({ name: 'New', version: 2 });
    expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('New');
  });

  it('keeps a user deleted while a refresh of it is in flight deleted', async () => {
    const user = await createUser(t);
    const gate = holdNextLoad(t.app.get(UserStore));
    const refresh = strategyOf(t).refresh(user.id);
    await gate.reached;
    await t.http().delete(`/users/${user.id}`).expect(204);
    gate.open();
    expect(await refresh).toBe('superseded');
    expect(await t.redis.exists(entryKey(t, user.id))).toBe(0);
    await t.http().get(`/users/${user.id}`).expect(404);
  });

  it('refreshes early on reads with XFetch', async () => {
    const early = await startDriven(adapter, { env: { XFETCH_BETA: '1000000', CACHE_TTL_SECONDS: '60' } });
    try {
      const user = await createUser(early);
      await early.http().get(`/users/${user.id}`).expect(200);
      await early.redis.pexpire(entryKey(early, user.id), 5000);
      await early.http().get(`/users/${user.id}`).expect(200);
      await sleep(100);
      expect(await early.redis.pttl(entryKey(early, user.id))).toBeGreaterThan(50_000);
      const stats = await early.stats();
      expect(stats.earlyRefreshes).toBeGreaterThan(0);
      expect(stats.proactiveRefreshes).toBeGreaterThan(0);
    } finally {
      await early.close();
    }
  });

  it('reads the TTL with a hit only while the entry may be near expiry, as far as it knows', async () => {
    const remembering = await startDriven(adapter, { env: { XFETCH_BETA: '1', CACHE_TTL_SECONDS: '60' } });
    try {
      const user = await createUser(remembering);
      const key = entryKey(remembering, user.id);
      // What the app's own Redis clients send for the entry (the spies call through and only record).
      const { reader, writer } = remembering.app.get(RedisConnections);
      const commandsFor = async (path: string): Promise<string[]> => {
        const spies = [reader, writer].map((client) => jest.spyOn(client, 'sendCommand'));
        try {
          const answer = await remembering.http().get(path).expect(200);
          expect(answer.headers['x-cache']).toBe('HIT');
          return (
            spies
              .flatMap((spy) => spy.mock.calls)
              .map(([command]) => command as { name: string; args: unknown[] })
              .filter((command) => command.args.some((arg) => String(arg) === key))
              // ioredis sends a script as EVAL or EVALSHA, depending on what it believes Redis has loaded.
              .map((command) => (command.name === 'evalsha' ? 'eval' : command.name))
          );
        } finally {
          for (const spy of spies) spy.mockRestore();
        }
      };
      // The first hit asks for the TTL too (one script); with a minute left, the next ones are a plain GET.
      expect(await commandsFor(`/users/${user.id}`)).toEqual(['eval']);
      expect(await commandsFor(`/users/${user.id}`)).toEqual(['get']);
      // Near the remembered expiry (here: pretend it was read long ago), the TTL is asked for again.
      strategyOf(remembering)['expiries'].set(user.id, Date.now() + 10);
      expect(await commandsFor(`/users/${user.id}`)).toEqual(['eval']);
      expect(await commandsFor(`/users/${user.id}`)).toEqual(['get']);
    } finally {
      await remembering.close();
    }
  });
});

describe('refresh-ahead across instances and under failure', () => {
  it('lets only one of two instances sweep at a time', async () => {
    const first = await startDriven('express');
    const second = await startDriven('express', {
      env: { DATABASE_SCHEMA: first.schema, REDIS_KEY_PREFIX: first.prefix },
    });
    try {
      const user = await createUser(first);
      await makeHot(first, user.id);
      await first.redis.pexpire(entryKey(first, user.id), 100);
      const gate = holdNextLoad(first.app.get(UserStore));
      const firstSweep = strategyOf(first).sweep();
      await gate.reached;
      expect(await strategyOf(second).sweep()).toEqual({ status: 'locked' });
      gate.open();
      expect(await firstSweep).toMatchObject({ status: 'swept', refreshed: 1 });
      expect(await strategyOf(second).sweep()).toMatchObject({ status: 'swept' });
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('keeps the hot set within its cap under a flood of distinct ids', async () => {
    const t = await startDriven('express', { env: { HOT_KEYS_MAX: '20', HOT_MIN_SCORE: '0' } });
    try {
      const inserted = await t.db.query<{ id: number }>(
        `INSERT INTO users (name, email, age) SELECT 'Flood', 'flood' || g || '@example.test', 20 FROM generate_series(1, 60) g RETURNING id`,
      );
      for (const { id } of inserted.rows) await t.http().get(`/users/${id}`).expect(200);
      for (let id = 2_000_000_000; id < 2_000_000_050; id += 1) await t.http().get(`/users/${id}`).expect(404);
      // Access counts are buffered for up to 100 ms; listing the hot set sends them.
      expect(((await t.http().get('/hot-items').expect(200)).body as { hotItems: number[] }).hotItems).toHaveLength(20);
      const hotKey = t.app.get(CacheKeys).hot(0);
      expect(await t.redis.zcard(hotKey)).toBe(20);
      expect(await t.redis.zscore(hotKey, '2000000001')).toBeNull();
    } finally {
      await t.close();
    }
  });

  it('keeps serving the cached value, counts the failure and keeps sweeping when Postgres is down', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const t = await startDriven('express', {
      env: { DATABASE_URL: url, CACHE_TTL_SECONDS: '30' },
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    try {
      const user = await createUser(t, 'Cached');
      await makeHot(t, user.id);
      await t.redis.pexpire(entryKey(t, user.id), 5000);
      proxy.disconnect();
      expect(await strategyOf(t).sweep()).toMatchObject({ status: 'swept', due: 1, failed: 1 });
      expect(await strategyOf(t).sweep()).toMatchObject({ status: 'swept', failed: 1 });
      // Deaf (its outbox feed went down with Postgres), the app answers the entry as a copy, not as a hit.
      await waitFor(async () => ((await t.stats()).outbox as { listening: boolean }).listening === false);
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.headers['x-cache']).toBe('STALE');
      expect(read.headers['cache-status']).toMatch(/detail=stale-if-error$/);
      expect(read.body.name).toBe('Cached');
      expect((await t.stats()).refreshFailures).toBe(2);
      proxy.restore();
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
