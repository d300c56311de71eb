import { CacheKeys, ChangeLog, RecordCache, WRITE_BEHIND_QUEUE } from '@app/cache-core';
import { UserStore } from '@app/users';
import { Queue } from 'bullmq';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { AppProcess } from '../support/app-process';
import { freePort } from '../support/free-port';
import { holdNextLoad } from '../support/gate';
import { RedisServer } from '../support/redis-server';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

const IN_PROGRESS = {
  statusCode: 409,
  message: 'A request with this Idempotency-Key is still being processed; retry once it has finished',
  error: 'Conflict',
};

describe.each(ADAPTERS)('an Idempotency-Key still in use, on %s', (adapter) => {
  it('cache-aside: a repeat while the first request holds the key is 409; once it finished, it is replayed', async () => {
    const t = await startTestApp(CACHE_ASIDE, { adapter });
    try {
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      // Hold the first PATCH inside its transaction: the row it updates is locked by the test.
      await t.db.query('BEGIN');
      await t.db.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user.id]);
      const first = t.http().patch(`/users/${user.id}`).set('Idempotency-Key', 'held').send({ age: 41 }).then();
      const holder = (await t.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await waitFor(async () => {
        // Inside its transaction the test's own connection sees one snapshot of pg_stat_activity.
        await t.db.query('SELECT pg_stat_clear_snapshot()');
        const waiting = await t.db.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [
          holder,
        ]);
        return (waiting.rowCount ?? 0) > 0;
      });
      const repeat = await t.http().patch(`/users/${user.id}`).set('Idempotency-Key', 'held').send({ age: 41 });
      expect(repeat.status).toBe(409);
      expect(repeat.body).toEqual(IN_PROGRESS);
      await t.db.query('COMMIT');
      const answered = await first;
      expect(answered.status).toBe(200);
      const replayed = await t
        .http()
        .patch(`/users/${user.id}`)
        .set('Idempotency-Key', 'held')
        .send({ age: 41 })
        .expect(200);
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expect(replayed.body).toEqual(answered.body);
      const row = await t.db.query('SELECT age, version FROM users WHERE id = $1', [user.id]);
      expect(row.rows).toEqual([{ age: 41, version: 2 }]);
      const stored = await t.db.query('SELECT scope, status FROM idempotency_keys WHERE key = $1', ['held']);
      expect(stored.rows).toEqual([{ scope: 'PATCH /users/:id', status: 200 }]);
    } finally {
      await t.db.query('ROLLBACK').catch(() => undefined);
      await t.close();
    }
  });

  it('write-behind: the same, with the key held in Redis while the first request runs', async () => {
    const t = await startTestApp(WRITE_BEHIND, { adapter });
    try {
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      await t.http().post('/flush?wait=true').expect(200);
      // With no entry in Redis the write reads the current row from Postgres, where the test holds it.
      await t.redis.del(entryKey(t, user.id));
      const gate = holdNextLoad(t.app.get(UserStore));
      const first = t.http().patch(`/users/${user.id}`).set('Idempotency-Key', 'held').send({ age: 41 }).then();
      await gate.reached;
      const repeat = await t.http().patch(`/users/${user.id}`).set('Idempotency-Key', 'held').send({ age: 41 });
      expect(repeat.status).toBe(409);
      expect(repeat.body).toEqual(IN_PROGRESS);
      gate.open();
      const answered = await first;
      expect(answered.status).toBe(200);
      const replayed = await t
        .http()
        .patch(`/users/${user.id}`)
        .set('Idempotency-Key', 'held')
        .send({ age: 41 })
        .expect(200);
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      await t.http().post('/flush?wait=true').expect(200);
      const row = await t.db.query('SELECT age, version FROM users WHERE id = $1', [user.id]);
      expect(row.rows).toEqual([{ age: 41, version: 2 }]);
    } finally {
      await t.close();
    }
  });
});

describe.each(ADAPTERS)('write-behind with a Redis that answers too late, on %s', (adapter) => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp(WRITE_BEHIND, {
      adapter,
      env: { REDIS_URL: redis.url, REDIS_WRITE_TIMEOUT_MS: '200', WRITE_BEHIND_BATCH_DELAY_MS: '600000' },
    });
  });

  afterAll(async () => {
    redis.thaw();
    await t.close();
    await redis.stop();
  });

  /**
   * The next accepted change reaches a Redis that is frozen until after the write timeout; resolves once Redis
   * is thawed (it then runs what was sent meanwhile, in order).
   */
  function freezeDuringNextAccept(): Promise<void> {
    const log = t.app.get(ChangeLog);
    const accept = log.accept.bind(log);
    return new Promise((thawed) => {
      log.accept = (...args) => {
        log.accept = accept;
        redis.freeze();
        setTimeout(() => {
          redis.thaw();
          thawed();
        }, 600).unref();
        return accept(...args);
      };
    });
  }

  it('answers 503 "outcome unknown" when the accept script ran but answered late; the retry with the key finds it', async () => {
    const input = newUser({ name: 'Accepted late' });
    const thawed = freezeDuringNextAccept();
    const unknown = await t.http().post('/users').set('Idempotency-Key', 'slow-create').send(input).expect(503);
    expect(unknown.headers['retry-after']).toBe('1');
    expect(unknown.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      outcome: 'unknown',
      message: expect.stringMatching(/outcome of this write is unknown.*same Idempotency-Key is safe/),
    });
    await thawed;
    await t.redis.ping();
    const retried = await t.http().post('/users').set('Idempotency-Key', 'slow-create').send(input).expect(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body).toMatchObject({ name: 'Accepted late', email: input.email });
    await t.http().post('/flush?wait=true').expect(200);
    const rows = await t.db.query('SELECT id, name FROM users WHERE email = $1', [input.email]);
    expect(rows.rows).toEqual([{ id: retried.body.id, name: 'Accepted late' }]);
  });

  it('says "not applied" when Redis could not be reached before anything was sent', async () => {
    await redis.stop();
    try {
      const refused = await t.http().post('/users').set('Idempotency-Key', 'refused').send(newUser()).expect(503);
      expect(refused.body).toMatchObject({ outcome: 'not-applied', message: expect.stringMatching(/not applied/) });
    } finally {
      await redis.launch();
      await waitFor(() => Promise.resolve(t.app.get(RecordCache).writable));
    }
  });
});

describe.each(ADAPTERS)(
  'write-behind lifecycle without Redis (the built app, in its own process), on %s',
  (adapter) => {
    it('listens within 10 s with Redis down, answers 503, and works fully (BullMQ included) once Redis appears', async () => {
      const port = await freePort();
      const app = await AppProcess.start('write-behind', {
        HTTP_ADAPTER: adapter,
        REDIS_URL: `redis://127.0.0.1:${port}`,
        WRITE_BEHIND_FLUSH_INTERVAL_MS: '60000',
      });
      let redis: RedisServer | undefined;
      try {
        const started = Date.now();
        await waitFor(async () => (await app.fetch('/health')) !== null, 10_000);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(await app.fetch('/health')).toMatchObject({
          status: 503,
          body: { info: { postgres: { status: 'up' } }, error: { redis: { status: 'down' } } },
        });
        expect(await app.fetch('/users/1')).toMatchObject({ status: 503, body: { message: expect.any(String) } });
        // The change log's counters live in Redis: /stats still answers, with them unknown.
        expect(await app.fetch('/stats')).toMatchObject({ status: 200, body: { pendingWrites: null, dbReads: 0 } });
        const write = await app.fetch('/users', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(newUser()),
        });
        expect(write).toMatchObject({ status: 503, body: { outcome: 'not-applied' } });

        redis = await RedisServer.start(port);
        await waitFor(async () => (await app.fetch('/users/1'))?.status === 200, 15_000);
        const input = newUser({ name: 'After Redis came' });
        const created = await app.fetch('/users', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(input),
        });
        expect(created).toMatchObject({ status: 201, body: { name: 'After Redis came' } });
        // BullMQ registered its job scheduler once Redis came, and the debounced flush job wrote the row.
        const queue = new Queue(WRITE_BEHIND_QUEUE, {
          connection: { host: '127.0.0.1', port },
          prefix: new CacheKeys(`${app.schema}:`, 'user').queuePrefix,
        });
        try {
          await waitFor(async () => (await queue.getJobSchedulers()).some((job) => job.key === 'flush-tick'), 15_000);
        } finally {
          await queue.close();
        }
        await waitFor(
          async () => ((await app.fetch('/stats'))?.body as { pendingWrites?: number }).pendingWrites === 0,
        );
        expect(app.logs).not.toMatch(/^\s+at /m);
        expect(app.logs.match(/BullMQ lost Redis/g) ?? []).toHaveLength(1);
        expect(app.logs).toMatch(/BullMQ reaches Redis again/);
      } finally {
        await app.cleanUp();
        await redis?.stop();
      }
    });

    it.each([
      ['never reachable', false],
      ['gone after start', true],
    ])('exits within 10 s of SIGTERM with Redis %s', async (_label, upAtStart) => {
      const redis = upAtStart ? await RedisServer.start() : undefined;
      const app = await AppProcess.start('write-behind', {
        HTTP_ADAPTER: adapter,
        REDIS_URL: redis?.url ?? `redis://127.0.0.1:${await freePort()}`,
      });
      try {
        await waitFor(async () => (await app.fetch('/health')) !== null, 10_000);
        if (redis !== undefined) {
          await waitFor(async () => (await app.fetch('/health'))?.status === 200);
          await redis.stop();
          await waitFor(async () => (await app.fetch('/health'))?.status === 503);
        }
        const { ended, ms } = await app.stop('SIGTERM');
        expect(['0', 'SIGTERM']).toContain(ended);
        expect(ms).toBeLessThan(10_000);
        expect(app.logs).not.toMatch(/^\s+at /m);
      } finally {
        await app.cleanUp();
        await redis?.stop();
      }
    });
  },
);
