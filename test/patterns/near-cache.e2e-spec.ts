import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { DIRECT_DATABASE_URL, DIRECT_REDIS_URL, proxyInFront } from '../support/tcp-proxy';
import { newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * The near cache (NEAR_CACHE_MAX_ENTRIES) on two instances of each pattern that can use it, on one schema and
 * key prefix: what a client sees (`X-Cache: HIT; tier=near`, the version in the ETag) and what `/stats` says.
 */
type Near = { enabled: boolean; size: number; hits: number; drops: number; disabled: number };

const NEAR_HIT = 'HIT; tier=near';
const ENV = {
  NEAR_CACHE_MAX_ENTRIES: '50',
  NEAR_CACHE_TTL_MS: '60000',
  REFRESH_INTERVAL_MS: '0',
  // Write-behind flushes only at boot: another instance hears of a change from Redis, not from a flush's NOTIFY.
  WRITE_BEHIND_BATCH_DELAY_MS: '600000',
  WRITE_BEHIND_FLUSH_INTERVAL_MS: '600000',
};
const nearOf = async (t: TestApp): Promise<Near> => (await t.stats()).near as Near;
/**
 * Reads `id` through `t` until the near cache answers (at most 50 reads): right after any change of a record,
 * an instance reads it from Redis or Postgres until the change is applied, for a few milliseconds.
 */
async function untilNearHit(
  t: TestApp,
  id: number,
): Promise<{ body: Record<string, unknown>; headers: Record<string, string> }> {
  let response = await t.http().get(`/users/${id}`).expect(200);
  for (let tries = 0; response.headers['x-cache'] !== NEAR_HIT && tries < 50; tries += 1) {
    response = await t.http().get(`/users/${id}`).expect(200);
  }
  expect(response.headers['x-cache']).toBe(NEAR_HIT);
  return response;
}

const versionOf = (response: { headers: Record<string, string> }): number => Number(JSON.parse(response.headers.etag!));

describe.each([CACHE_ASIDE, READ_THROUGH, WRITE_THROUGH, WRITE_BEHIND, REFRESH_AHEAD])(
  '$pattern with a near cache',
  (definition) => {
    let a: TestApp;
    let b: TestApp;

    beforeAll(async () => {
      a = await startTestApp(definition, { env: ENV });
      b = await startTestApp(definition, {
        env: { ...ENV, DATABASE_SCHEMA: a.schema, REDIS_KEY_PREFIX: a.prefix },
        cleanUp: false,
      });
      await waitFor(async () => (await nearOf(a)).enabled && (await nearOf(b)).enabled);
    });
    afterAll(async () => {
      await b.close();
      await a.close();
    });

    it("answers repeated reads from the near cache, and never its own write's previous version", async () => {
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      const hit = await untilNearHit(a, user.id);
      let version = versionOf(hit);
      for (let round = 1; round <= 5; round += 1) {
        const written = await a
          .http()
          .patch(`/users/${user.id}`)
          .send({ age: 30 + round })
          .expect(200);
        expect(versionOf(written)).toBe(version + 1);
        version += 1;
        // Read right after the write, then again: never the old version, and the near cache serves the new one.
        for (let read = 0; read < 3; read += 1) {
          const response = await a.http().get(`/users/${user.id}`).expect(200);
          expect(versionOf(response)).toBe(version);
          expect(response.body.age).toBe(30 + round);
        }
        expect(versionOf(await untilNearHit(a, user.id))).toBe(version);
      }
      expect((await nearOf(a)).hits).toBeGreaterThanOrEqual(6);
    });

    it("drops the entry when another instance writes: the other's write is read at once", async () => {
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      const before = await untilNearHit(b, user.id);
      const dropsBefore = (await nearOf(b)).drops;
      await a.http().patch(`/users/${user.id}`).send({ name: 'Written through A' }).expect(200);
      // The change's NOTIFY (write-behind: the accept script's message on Redis) reaches b within milliseconds of
      // the commit; wait for that, not for a fixed time.
      await waitFor(async () => (await nearOf(b)).drops > dropsBefore);
      const after = await b.http().get(`/users/${user.id}`).expect(200);
      expect(versionOf(after)).toBe(versionOf(before) + 1);
      expect(after.body.name).toBe('Written through A');
      expect((await untilNearHit(b, user.id)).body.name).toBe('Written through A');
      await a.http().delete(`/users/${user.id}`).expect(204);
      await waitFor(async () => (await b.http().get(`/users/${user.id}`)).status === 404);
      await b.http().get(`/users/${user.id}`).expect(404);
    });

    it('empties the near cache and stops using it while its notification feed is lost, until the feed is back', async () => {
      // A third instance that reaches Postgres through a proxy the test cuts: its LISTEN connection goes with it.
      const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
      const c = await startTestApp(definition, {
        env: { ...ENV, DATABASE_SCHEMA: a.schema, REDIS_KEY_PREFIX: a.prefix, DATABASE_URL: url },
        cleanUp: false,
        direct: { databaseUrl: DIRECT_DATABASE_URL },
      });
      try {
        const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
        await waitFor(async () => (await nearOf(c)).enabled);
        await untilNearHit(c, user.id);
        proxy.disconnect();
        await waitFor(async () => !(await nearOf(c)).enabled);
        expect(await nearOf(c)).toMatchObject({ enabled: false, size: 0 });
        // A write c cannot hear of: c reads it from Redis (a invalidated it there and, reading, filled it again, or
        // with write-behind accepted it there; c cannot reach Postgres), never from its near cache.
        await a.http().patch(`/users/${user.id}`).send({ name: 'Written while c was deaf' }).expect(200);
        await a.http().get(`/users/${user.id}`).expect(200);
        for (let read = 0; read < 3; read += 1) {
          const response = await c.http().get(`/users/${user.id}`).expect(200);
          expect(response.body.name).toBe('Written while c was deaf');
          expect(response.headers['x-cache']).not.toBe(NEAR_HIT);
        }
        proxy.restore();
        await waitFor(async () => (await nearOf(c)).enabled, 15_000);
        const again = await untilNearHit(c, user.id);
        expect(again.body.name).toBe('Written while c was deaf');
        expect((await nearOf(c)).disabled).toBe(1);
      } finally {
        proxy.restore();
        await c.close();
        await proxy.close();
      }
    });

    it('holds at most NEAR_CACHE_MAX_ENTRIES entries', async () => {
      const ids: number[] = [];
      for (let index = 0; index < 60; index += 1) {
        ids.push(((await a.http().post('/users').send(newUser()).expect(201)).body as { id: number }).id);
      }
      for (const id of ids) {
        await a.http().get(`/users/${id}`).expect(200);
        await a.http().get(`/users/${id}`).expect(200);
      }
      expect((await nearOf(a)).size).toBeLessThanOrEqual(50);
      await untilNearHit(a, ids.at(-1)!);
    });
  },
);

describe('write-behind with a near cache, when its Redis channel is lost', () => {
  it('empties the near cache and stops using it until the channel is back: a change made meanwhile is read', async () => {
    // Two instances on the single Redis (also in the cluster pass): c reaches it through a proxy the test cuts.
    const { proxy, url } = await proxyInFront(DIRECT_REDIS_URL, 6379);
    const a = await startTestApp(WRITE_BEHIND, { env: { ...ENV, REDIS_URL: DIRECT_REDIS_URL } });
    const c = await startTestApp(WRITE_BEHIND, {
      env: { ...ENV, DATABASE_SCHEMA: a.schema, REDIS_KEY_PREFIX: a.prefix, REDIS_URL: url },
      cleanUp: false,
      direct: { redisUrl: DIRECT_REDIS_URL },
    });
    try {
      await waitFor(async () => (await nearOf(a)).enabled && (await nearOf(c)).enabled);
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      await untilNearHit(c, user.id);
      proxy.disconnect();
      await waitFor(async () => !(await nearOf(c)).enabled);
      expect(await nearOf(c)).toMatchObject({ enabled: false, size: 0, disabled: 1 });
      // Accepted by a into Redis; c hears nothing of it, and cannot reach Redis: 503, never its old copy.
      await a.http().patch(`/users/${user.id}`).send({ name: 'Written while c was deaf' }).expect(200);
      await c.http().get(`/users/${user.id}`).expect(503);
      proxy.restore();
      await waitFor(async () => (await nearOf(c)).enabled, 15_000);
      // The channel's connection and the cache's own reconnect each on their own backoff: until c's read
      // connection is back too, a read is still 503 (unflushed changes cannot be read from Postgres).
      await waitFor(async () => (await c.http().get('/health')).body.status === 'ok', 15_000);
      const after = await c.http().get(`/users/${user.id}`).expect(200);
      expect(after.body.name).toBe('Written while c was deaf');
      expect(versionOf(after)).toBe(2);
      expect((await untilNearHit(c, user.id)).body.name).toBe('Written while c was deaf');
    } finally {
      proxy.restore();
      await c.close();
      await a.close();
      await proxy.close();
    }
  });
});

describe('the near cache is off by default', () => {
  it('answers HIT from Redis and reports it disabled', async () => {
    const t = await startTestApp(CACHE_ASIDE);
    try {
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      await t.http().get(`/users/${user.id}`).expect(200);
      await t.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'HIT');
      await t.http().get(`/users/${user.id}`).expect(200).expect('X-Cache', 'HIT');
      expect(await nearOf(t)).toMatchObject({ enabled: false, size: 0, hits: 0 });
    } finally {
      await t.close();
    }
  });
});
