import { CacheKeys, RedisMemory } from '@app/cache-core';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { RedisServer } from '../support/redis-server';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { bootFlushDone, MANUAL_FLUSH } from '../support/write-behind';

/** Every app reads Redis's memory settings this often here, so a change shows within a test. */
const QUICK_CHECKS = { REDIS_MEMORY_CHECK_MS: '100' };

async function memoryKnown(t: TestApp): Promise<void> {
  await waitFor(() => Promise.resolve(t.app.get(RedisMemory).state !== undefined));
}

async function usedMemory(t: TestApp): Promise<number> {
  const info = await t.redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

async function inPostgres(t: TestApp, ids: number[]): Promise<number> {
  const result = await t.db.query<{ count: string }>('SELECT count(*) FROM users WHERE id = ANY($1)', [ids]);
  return Number(result.rows[0]!.count);
}

describe.each(ADAPTERS)('write-behind at the edges of Redis memory, on %s', (adapter) => {
  const open: TestApp[] = [];
  let redis: RedisServer | undefined;

  afterEach(async () => {
    for (const t of open.splice(0).reverse()) await t.close();
    await redis?.stop();
    redis = undefined;
  });

  async function start(env: Record<string, string>, shared?: TestApp): Promise<TestApp> {
    const same: Record<string, string> =
      shared === undefined ? {} : { DATABASE_SCHEMA: shared.schema, REDIS_KEY_PREFIX: shared.prefix };
    const t = await startTestApp(WRITE_BEHIND, {
      adapter,
      env: {
        REDIS_URL: redis!.url,
        ...QUICK_CHECKS,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
        ...env,
        ...same,
      },
      cleanUp: shared === undefined,
    });
    open.push(t);
    await memoryKnown(t);
    return t;
  }

  it('accepts no write under allkeys-lru, says so on the write, /health and /metrics, and accepts again once the policy is noeviction', async () => {
    redis = await RedisServer.start(undefined, ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
    const t = await start({});
    const existing = await t.db.query<{ id: number }>(
      `INSERT INTO users (name, email, age) VALUES ('Old', $1, 40) RETURNING id`,
      [newUser().email],
    );
    const id = existing.rows[0]!.id;

    const refused = [
      await t.http().post('/users').send(newUser()),
      await t.http().patch(`/users/${id}`).send({ age: 41 }),
      await t.http().delete(`/users/${id}`),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(503);
      expect(answer.body.outcome).toBe('not-applied');
      expect(answer.body.message).toContain('maxmemory-policy is allkeys-lru');
      expect(answer.body.message).toContain('noeviction');
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Nothing reached Redis or Postgres.
    const keys = t.app.get(CacheKeys);
    expect(await t.redis.zcard(keys.writeBehind.pending)).toBe(0);
    expect(await t.redis.exists(entryKey(t, id))).toBe(0);
    expect((await t.db.query('SELECT age FROM users WHERE id = $1', [id])).rows[0]).toEqual({ age: 40 });

    const health = await t.http().get('/health').expect(503);
    expect(health.body.error.cache).toMatchObject({ status: 'down', refusingWrites: 'eviction-policy' });
    expect(health.body.error.cache.message).toContain('allkeys-lru');
    const metrics = (await t.http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/write_behind_refusing_writes\{[^}]*reason="eviction-policy"[^}]*\} 1/);
    expect(metrics).toMatch(/write_behind_refused_writes_total\{[^}]*reason="eviction-policy"[^}]*\} 3/);

    await t.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await waitFor(async () => (await t.http().patch(`/users/${id}`).send({ age: 42 })).status === 200);
    await t.http().get('/health').expect(200);
    await t.http().post('/flush?wait=true').expect(200);
    expect((await t.db.query('SELECT age FROM users WHERE id = $1', [id])).rows[0]).toEqual({ age: 42 });
  });

  it('pushes back before a noeviction Redis is full (503 not-applied, never 500), and a flusher drains it by itself', async () => {
    redis = await RedisServer.start(undefined, ['--maxmemory-policy', 'noeviction']);
    const api = await start({ WRITE_BEHIND_ROLE: 'api' });
    // Room for a few thousand users above what the server and the app's connections use already.
    await api.redis.config('SET', 'maxmemory', String((await usedMemory(api)) + 1_500_000));

    const accepted: number[] = [];
    const statuses = new Map<number, number>();
    const refusals: { outcome?: string; retryAfter?: string }[] = [];
    let refusedAt = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        // Each client writes until it is refused twice (the first refusal may come from Redis itself).
        for (let refusedHere = 0; refusedHere < 2 && accepted.length < 50_000;) {
          const answer = await api
            .http()
            .post('/users')
            .send(newUser({ name: 'x'.repeat(100) }));
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (answer.status === 201) accepted.push((answer.body as { id: number }).id);
          else {
            refusedHere += 1;
            refusedAt ||= Date.now();
            refusals.push({ outcome: answer.body.outcome, retryAfter: answer.headers['retry-after'] });
          }
        }
      }),
    );
    expect([...statuses.keys()].sort()).toEqual([201, 503]);
    expect(accepted.length).toBeGreaterThan(500);
    for (const refusal of refusals) expect(refusal).toEqual({ outcome: 'not-applied', retryAfter: expect.any(String) });
    // Redis itself may have refused the last writes (OOM) before the next memory reading: that reading follows.
    await waitFor(async () => (await api.stats()).refusingWrites === 'memory');
    expect((await api.stats()).pendingWrites).toBe(accepted.length);

    // A flusher joins: it must drain the full Redis (BullMQ cannot run a job in it) and let writes in again.
    await start({ WRITE_BEHIND_ROLE: 'all' }, api);
    await waitFor(async () => (await inPostgres(api, accepted)) === accepted.length, 60_000);
    // What the flush leaves behind expires within a minute (the outbox's invalidation markers, released claims).
    await waitFor(async () => (await api.http().post('/users').send(newUser())).status === 201, 90_000);
    expect((await api.stats()).refusingWrites).toBeNull();
    expect((await api.stats()).missingChanges).toBe(0);
  }, 150_000);

  it('takes no write once WRITE_BEHIND_MAX_PENDING records are pending, and takes writes again once they are flushed', async () => {
    redis = await RedisServer.start(undefined, ['--maxmemory-policy', 'noeviction']);
    const t = await start({ WRITE_BEHIND_MAX_PENDING: '5', ...MANUAL_FLUSH });
    await bootFlushDone(t);
    const ids: number[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await t.http().post('/users').send(newUser()).expect(201)).body.id);
    const refused = await t.http().post('/users').send(newUser()).expect(503);
    expect(refused.body).toMatchObject({ outcome: 'not-applied' });
    expect(refused.body.message).toContain('WRITE_BEHIND_MAX_PENDING 5');
    expect(await t.redis.zcard(t.app.get(CacheKeys).writeBehind.pending)).toBe(5);
    await t.http().post('/flush?wait=true').expect(200);
    expect(await inPostgres(t, ids)).toBe(5);
    // Once flushed, the records' claims on their emails leave Redis (Postgres's unique index holds them).
    expect(await t.redis.hlen(t.app.get(CacheKeys).writeBehind.unique)).toBe(0);
    await waitFor(async () => (await t.http().post('/users').send(newUser())).status === 201);
    await t.http().patch(`/users/${ids[0]}`).send({ age: 50 }).expect(200);
  });

  it('reports accepted changes that vanished from Redis on /health, /stats and /metrics, and puts back those whose rows survived', async () => {
    redis = await RedisServer.start(undefined, ['--maxmemory-policy', 'noeviction']);
    const t = await start(MANUAL_FLUSH);
    await bootFlushDone(t);
    const keys = t.app.get(CacheKeys);
    const ids: number[] = [];
    for (let i = 0; i < 4; i += 1) ids.push((await t.http().post('/users').send(newUser()).expect(201)).body.id);
    await t.http().get('/health').expect(200);

    // The pending set evicted while the rows are still there: the log is repaired, nothing is lost.
    await t.redis.del(keys.writeBehind.pending);
    await waitFor(async () => (await t.redis.zcard(keys.writeBehind.pending)) === 4);
    await t.http().post('/flush?wait=true').expect(200);
    expect(await inPostgres(t, ids)).toBe(4);
    await t.http().get('/health').expect(200);

    // Two rows evicted before their flush: those changes are gone, and every surface says so.
    const lost = [(await t.http().post('/users').send(newUser()).expect(201)).body.id as number];
    lost.push((await t.http().post('/users').send(newUser()).expect(201)).body.id as number);
    const kept = (await t.http().post('/users').send(newUser()).expect(201)).body.id as number;
    await t.redis.del(...lost.map((id) => entryKey(t, id)));
    await t.http().post('/flush?wait=true').expect(200);
    expect(await inPostgres(t, [kept])).toBe(1);
    await waitFor(async () => (await t.http().get('/health')).status === 503);
    const health = await t.http().get('/health').expect(503);
    expect(health.body.error.cache).toMatchObject({ status: 'down', missingChanges: 2 });
    expect(health.body.error.cache.message).toContain('vanished from Redis');
    expect((await t.stats()).missingChanges).toBe(2);
    const metrics = (await t.http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/write_behind_missing_changes_total(\{[^}]*\})? 2/);
  });
});
