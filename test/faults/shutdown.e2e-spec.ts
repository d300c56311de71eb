import { AppProcess } from '../support/app-process';
import { RedisServer } from '../support/redis-server';
import { TcpProxy } from '../support/tcp-proxy';
import { newUser } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/** What every app promises: it stops within this long of SIGTERM, whatever state Redis is in. */
const STOP_WITHIN_MS = 10_000;

type RedisState = 'cut off' | 'killed' | 'frozen' | 'full' | 'absent at start';

/**
 * Write-behind (the app with the most to settle at shutdown: a BullMQ worker, a batch in hand, its connections)
 * stopped with SIGTERM in each state Redis can be in, after accepting writes, as the built app runs in
 * production. Redis is a private server behind a TCP proxy, so it can be cut off, killed, frozen or filled.
 */
describe.each<RedisState>(['cut off', 'killed', 'frozen', 'full', 'absent at start'])(
  'write-behind with Redis %s',
  (state) => {
    it(`exits within ${STOP_WITHIN_MS / 1000} s of SIGTERM`, async () => {
      const redis = await RedisServer.start(undefined, ['--maxmemory-policy', 'noeviction']);
      const proxy = await TcpProxy.start('127.0.0.1', redis.port);
      const env = {
        REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
        LOG_LEVEL: 'warn',
        REDIS_MEMORY_CHECK_MS: '200',
      };
      let app: AppProcess | undefined;
      try {
        if (state === 'absent at start') {
          proxy.disconnect();
          app = await AppProcess.start('write-behind', env);
          await waitFor(async () => (await app!.fetch('/health')) !== null, 20_000);
        } else {
          app = await AppProcess.start('write-behind', env);
          await waitFor(() => app!.healthy(), 20_000);
          for (let i = 0; i < 20; i += 1) {
            const answer = await app.fetch('/users', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(newUser()),
            });
            expect(answer?.status).toBe(201);
          }
          if (state === 'cut off') proxy.disconnect();
          if (state === 'killed') await redis.stop();
          if (state === 'frozen') redis.freeze();
          if (state === 'full') {
            const direct = `redis://127.0.0.1:${redis.port}`;
            const { Redis } = await import('ioredis');
            const client = new Redis(direct);
            await client.config('SET', 'maxmemory', '1');
            client.disconnect();
          }
          // Let the app notice: reconnect attempts, failed flushes and health checks are under way.
          await new Promise((resolve) => setTimeout(resolve, 1500));
        }
        const { ended, ms } = await app.stop('SIGTERM', 20_000);
        console.log(`write-behind stopped with Redis ${state}: ${ended} after ${ms} ms`);
        expect({ ended, withinLimit: ms < STOP_WITHIN_MS }).toEqual({
          ended: expect.stringMatching(/^(0|SIGTERM)$/),
          withinLimit: true,
        });
      } finally {
        redis.thaw();
        await app?.cleanUp();
        await proxy.close();
        await redis.stop();
      }
    }, 60_000);
  },
);
