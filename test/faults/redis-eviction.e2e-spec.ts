import type { PatternAppDefinition } from '@app/shell';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { RedisServer } from '../support/redis-server';
import { type AdapterName, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/** The cache-only patterns: everything they keep in Redis can be rebuilt from Postgres. */
const CACHE_ONLY: [string, PatternAppDefinition, AdapterName][] = [
  ['cache-aside', CACHE_ASIDE, 'express'],
  ['read-through', READ_THROUGH, 'fastify'],
  ['write-through', WRITE_THROUGH, 'express'],
  ['refresh-ahead', REFRESH_AHEAD, 'fastify'],
];

const FILLER = 'x'.repeat(16 * 1024);

async function usedMemory(t: TestApp): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await t.redis.info('memory'))![1]);
}

async function evictedKeys(t: TestApp): Promise<number> {
  return Number(/^evicted_keys:(\d+)/m.exec(await t.redis.info('stats'))![1]);
}

/** Keys without a TTL, written by someone else, that push the app's own keys out (or fill Redis up). */
async function fill(t: TestApp, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n += 1) await t.redis.set(`filler:${n}`, FILLER).catch(() => undefined);
}

describe.each(CACHE_ONLY)('%s at the edges of Redis memory (on %#)', (_, definition, adapter) => {
  let redis: RedisServer;
  let t: TestApp;

  afterEach(async () => {
    await t.close();
    await redis.stop();
  });

  async function start(policy: string): Promise<void> {
    redis = await RedisServer.start(undefined, ['--maxmemory-policy', policy]);
    t = await startTestApp(definition, { adapter, env: { REDIS_URL: redis.url } });
    // A little room above what the server and the app's connections use: the app's keys compete with the filler.
    await t.redis.config('SET', 'maxmemory', String((await usedMemory(t)) + 400_000));
  }

  /** Every read after an acknowledged write returns it, whatever Redis evicted or refused meanwhile. */
  async function writeAndReadBack(rounds: number): Promise<void> {
    const ids: number[] = [];
    for (let i = 0; i < 20; i += 1) ids.push((await t.http().post('/users').send(newUser()).expect(201)).body.id);
    for (let round = 1; round <= rounds; round += 1) {
      for (const id of ids) await t.http().get(`/users/${id}`).expect(200);
      await fill(t, round * 100, 40);
      for (const id of ids) {
        await t
          .http()
          .patch(`/users/${id}`)
          .send({ name: `round ${round}` })
          .expect(200);
      }
      await fill(t, round * 100 + 50, 40);
      for (const id of ids) {
        const read = await t.http().get(`/users/${id}`).expect(200);
        expect(read.body).toMatchObject({ id, name: `round ${round}` });
        expect(read.headers.etag).toBe(`"${round + 1}"`);
      }
    }
    const rows = await t.db.query<{ name: string }>('SELECT name FROM users WHERE id = ANY($1)', [ids]);
    expect(rows.rows.map((row) => row.name)).toEqual(ids.map(() => `round ${rounds}`));
  }

  it('under allkeys-lru: entries, leases, markers and tombstones evicted, every read still current', async () => {
    await start('allkeys-lru');
    await writeAndReadBack(3);
    expect(await evictedKeys(t)).toBeGreaterThan(0);
    await t.http().get('/health').expect(200);
  });

  it('under noeviction, full: reads and writes answer from Postgres, never stale, never a 500', async () => {
    await start('noeviction');
    await fill(t, 0, 100);
    // Full for certain: the fill stops at the first refused SET, which may leave used memory a little under the
    // limit (the refused value counted while it was in the query buffer), so a key expiring or a buffer freed
    // meanwhile could make room for the probe. The limit goes under what is used.
    await t.redis.config('SET', 'maxmemory', String((await usedMemory(t)) - 100_000));
    await expect(t.redis.set('probe', FILLER)).rejects.toThrow(/OOM/);
    await writeAndReadBack(2);
  });

  it('keeps no key without a TTL, so a volatile-* policy may evict any of them', async () => {
    await start('noeviction');
    await t.redis.config('SET', 'maxmemory', '0');
    const created = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    await t.http().get(`/users/${created.id}`).expect(200);
    await t
      .http()
      .get(`/users/${created.id + 1000}`)
      .expect(404);
    await t.http().patch(`/users/${created.id}`).send({ age: 31 }).expect(200);
    await t.http().get(`/users/${created.id}`).expect(200);
    await t.http().delete(`/users/${created.id}`).expect(204);
    await t.http().get(`/users/${created.id}`).expect(404);
    // Refresh-ahead sends its read counts to its hot set every 100 ms: wait for them, so the hot set is listed too.
    if (definition === REFRESH_AHEAD) await waitFor(async () => (await t.redis.keys(`${t.prefix}*hot*`)).length > 0);
    const keys = await t.redis.keys(`${t.prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    const withoutTtl = [];
    for (const key of keys) if ((await t.redis.pttl(key)) === -1) withoutTtl.push(key);
    expect(withoutTtl).toEqual([]);
  });
});
