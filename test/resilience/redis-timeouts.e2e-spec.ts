import { Redis } from 'ioredis';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { RedisConnections } from '../../libs/cache-core/src/redis/redis-connections';
import { tolerateEventLoopStalls } from '../../libs/cache-core/src/redis/stall-tolerant-timeout';
import { RedisServer } from '../support/redis-server';
import { entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';

/** Holds the event loop, as a GC pause or a long synchronous task would. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else in this process runs meanwhile
  }
}

/**
 * ioredis's command timeout against a paused event loop. Node runs expired timers before it reads sockets, so
 * a timeout shorter than a pause used to fail commands whose reply had arrived during the pause.
 */
describe('Redis command timeouts', () => {
  describe('an app whose event loop stalls longer than REDIS_COMMAND_TIMEOUT_MS', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp(CACHE_ASIDE, { env: { REDIS_COMMAND_TIMEOUT_MS: '100' } });
    });
    afterAll(() => t.close());

    it('still gets the replies Redis sent meanwhile: no error, and the next read is a hit', async () => {
      const created = await t.http().post('/users').send(newUser()).expect(201);
      const id = created.body.id as number;
      await t.http().get(`/users/${id}`).expect(200).expect('X-Cache', 'MISS');
      const errorsBefore = (await t.stats()).errors;
      const { reader } = t.app.get(RedisConnections);
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i += 1) {
        const reply = reader.get(entryKey(t, id)).then(
          (raw) => (raw === null ? 'absent' : (JSON.parse(raw) as { id: number }).id === id ? 'ok' : 'wrong'),
          (error: Error) => error.message,
        );
        stall(150);
        outcomes.push(await reply);
      }
      expect(outcomes).toEqual(Array.from({ length: 20 }, () => 'ok'));
      await t.http().get(`/users/${id}`).expect(200).expect('X-Cache', 'HIT');
      expect((await t.stats()).errors).toBe(errorsBefore);
    });
  });

  describe('a Redis that does not answer (its process frozen)', () => {
    let server: RedisServer;

    beforeAll(async () => {
      server = await RedisServer.start();
    });
    afterAll(async () => {
      server.thaw();
      await server.stop();
    });

    it('still times the command out, within the timeout and a turn of the event loop', async () => {
      tolerateEventLoopStalls();
      const client = new Redis(server.url, { commandTimeout: 100, maxRetriesPerRequest: 0, lazyConnect: true });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.ping();
        server.freeze();
        const started = performance.now();
        await expect(client.get('anything')).rejects.toThrow('Command timed out');
        const waited = performance.now() - started;
        expect(waited).toBeGreaterThanOrEqual(99);
        expect(waited).toBeLessThan(5_000);
      } finally {
        client.disconnect();
      }
    });
  });
});
