import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { DIRECT_DATABASE_URL, DIRECT_REDIS_URL, proxyInFront, type TcpProxy } from '../support/tcp-proxy';
import { entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * A hit is one Redis round trip, however many requests are in flight: a command is written to the socket when
 * its request sends it, not held until the replies of an earlier one come back (as ioredis's auto-pipelining
 * does, which cost a second round trip per hit once Redis is a network away). Redis is reached through a proxy
 * that, stalled, forwards nothing, so an earlier command stays unanswered; the proxy sees what the app writes.
 */
describe('Redis round trips of a hit', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  /** What the app's Redis connections wrote since the last reset, as text. */
  let written = '';

  beforeAll(async () => {
    const front = await proxyInFront(DIRECT_REDIS_URL, 6379);
    proxy = front.proxy;
    proxy.watch((chunk) => (written += chunk.toString('latin1')));
    t = await startTestApp(CACHE_ASIDE, {
      // Long enough that the stalled command is still in flight when the second request sends its own.
      env: { REDIS_URL: front.url, DATABASE_URL: DIRECT_DATABASE_URL, REDIS_COMMAND_TIMEOUT_MS: '10000' },
      direct: { redisUrl: DIRECT_REDIS_URL, databaseUrl: DIRECT_DATABASE_URL },
    });
  });
  afterAll(async () => {
    proxy.restore();
    await t.close();
    await proxy.close();
  });

  it("sends a second hit's command while the first one's reply is still awaited", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 2; i += 1) {
      const created = await t.http().post('/users').send(newUser()).expect(201);
      ids.push(created.body.id as number);
    }
    for (const id of ids) {
      await t.http().get(`/users/${id}`).expect(200);
      await t.http().get(`/users/${id}`).expect(200).expect('X-Cache', 'HIT');
    }
    const [first, second] = ids.map((id) => entryKey(t, id));

    proxy.stall();
    written = '';
    const firstRead = t
      .http()
      .get(`/users/${ids[0]}`)
      .then((response) => response);
    await waitFor(() => Promise.resolve(written.includes(first!)));
    const secondRead = t
      .http()
      .get(`/users/${ids[1]}`)
      .then((response) => response);
    // Its command reaches the proxy although the first read's reply has not come (nothing came back at all).
    await waitFor(() => Promise.resolve(written.includes(second!)), 5_000);
    proxy.restore();

    for (const [index, response] of [await firstRead, await secondRead].entries()) {
      expect(response.status).toBe(200);
      expect(response.headers['x-cache']).toBe('HIT');
      expect(response.body).toMatchObject({ id: ids[index] });
    }
    // And Redis holds both entries: the answers were hits of what is there.
    for (const key of [first!, second!]) expect(await t.redis.exists(key)).toBe(1);
  });
});
