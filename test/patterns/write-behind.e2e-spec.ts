import { jest } from '@jest/globals';
import { CacheKeys, type RecordStore, type WriteBehindStore } from '@app/cache-core';
import { type UserRecord, UserStore } from '@app/users';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { RedisConnections } from '../../libs/cache-core/src/redis/redis-connections';
import { describeCacheStrategyContract } from '../contract/cache-strategy.contract';
import { DIRECT_DATABASE_URL, DIRECT_REDIS_URL, proxyInFront } from '../support/tcp-proxy';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { bootFlushDone, MANUAL_FLUSH } from '../support/write-behind';
import { differencesFromPostgres, runWrites } from '../support/write-load';

describeCacheStrategyContract(WRITE_BEHIND);

async function flush(t: TestApp): Promise<void> {
  await t.http().post('/flush?wait=true').expect(200);
}

async function row(t: TestApp, id: number): Promise<Record<string, unknown> | undefined> {
  return (await t.db.query('SELECT * FROM users WHERE id = $1', [id])).rows[0] as Record<string, unknown> | undefined;
}

describe.each(ADAPTERS)('write-behind on %s', (adapter) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(WRITE_BEHIND, { adapter, env: MANUAL_FLUSH });
    await bootFlushDone(t);
  });

  afterAll(async () => {
    await t.close();
  });

  it('answers writes from Redis at once; Postgres has them only after the flush, and only then may they expire', async () => {
    const user = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Pending' }))
        .expect(201)
    ).body as { id: number };
    expect(await row(t, user.id)).toBeUndefined();
    expect(await t.redis.pttl(entryKey(t, user.id))).toBe(-1);
    const read = await t.http().get(`/users/${user.id}`).expect(200);
    expect(read.body.name).toBe('Pending');
    expect(read.headers['x-cache']).toBe('HIT');
    const stats = await t.stats();
    expect(stats.pendingWrites).toBeGreaterThan(0);
    expect(stats.oldestPendingMs).toEqual(expect.any(Number));

    await flush(t);
    expect(await row(t, user.id)).toMatchObject({ name: 'Pending', version: 1 });
    expect(await t.redis.pttl(entryKey(t, user.id))).toBeGreaterThan(0);
    const after = await t.stats();
    expect(after).toMatchObject({ pendingWrites: 0, oldestPendingMs: null, lastFlush: expect.any(String) });
    expect(after.dbFlushes).toBeGreaterThan(0);
  });

  it('POST /flush answers 202 and flushes in the background', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    await t.http().post('/flush').expect(202);
    await waitFor(async () => (await row(t, user.id)) !== undefined);
  });

  it('takes ids from the Postgres sequence, so they never collide with rows Postgres creates', async () => {
    const viaApp = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    const direct = await t.db.query<{ id: number }>(
      `INSERT INTO users (name, email, age) VALUES ('Direct', $1, 40) RETURNING id`,
      [newUser().email],
    );
    expect(direct.rows[0]!.id).not.toBe(viaApp.id);
    await flush(t);
    expect(await row(t, viaApp.id)).toBeDefined();
    expect(await row(t, direct.rows[0]!.id)).toMatchObject({ name: 'Direct' });
  });

  it('coalesces many changes of one user into one write of the latest version', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    await flush(t);
    const before = await t.stats();
    for (let i = 1; i <= 30; i += 1) await t.http().patch(`/users/${user.id}`).send({ age: i }).expect(200);
    expect(await row(t, user.id)).toMatchObject({ version: 1 });
    await flush(t);
    expect(await row(t, user.id)).toMatchObject({ age: 30, version: 31 });
    const after = await t.stats();
    expect(Number(after.coalesced) - Number(before.coalesced)).toBe(29);
    expect(Number(after.flushedRows) - Number(before.flushedRows)).toBe(1);
  });

  it('updates a user in Redis in one command: fields merged by the script, key order and types kept, Postgres after the flush', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as UserRecord;
    await flush(t);
    const key = entryKey(t, user.id);
    const storedKeys = Object.keys(JSON.parse((await t.redis.get(key))!) as object);
    // What the app's own Redis clients send (to the real Redis: the spies call through and only record).
    const { reader, writer } = t.app.get(RedisConnections);
    const spies = [reader, writer].map((client) => jest.spyOn(client, 'sendCommand'));
    const name = 'Zoë "Z" O\'Brien / 𝄞';
    let calls: unknown[][];
    try {
      const answer = await t.http().patch(`/users/${user.id}`).send({ name, age: 41 }).expect(200);
      expect(answer.body).toEqual({ ...user, name, age: 41, updatedAt: expect.any(String) });
      expect(answer.headers.etag).toBe('"2"');
      calls = spies.flatMap((spy) => [...spy.mock.calls]);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // The update was the script alone: no read of the row before it (that is the long way).
    const sent = calls
      .map(([command]) => command as { name: string; args: unknown[] })
      .filter((command) => command.args.some((arg) => String(arg) === key));
    expect(sent.map((command) => command.name)).toEqual(['evalsha']);
    const raw = (await t.redis.get(key))!;
    expect(Object.keys(JSON.parse(raw) as object)).toEqual(storedKeys);
    expect(JSON.parse(raw)).toEqual({
      ...user,
      name: 'Zoë "Z" O\'Brien / 𝄞',
      age: 41,
      version: 2,
      updatedAt: expect.any(String),
    });
    expect(await t.redis.pttl(key)).toBe(-1);
    expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');
    await flush(t);
    expect(await row(t, user.id)).toMatchObject({ name: 'Zoë "Z" O\'Brien / 𝄞', age: 41, version: 2 });
  });

  it('takes the long way when Redis has no row to merge into or cannot decode it, and when the email changes', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as UserRecord;
    await flush(t);
    const key = entryKey(t, user.id);
    await t.redis.del(key);
    await t.http().patch(`/users/${user.id}`).send({ age: 50 }).expect(200);
    expect(JSON.parse((await t.redis.get(key))!)).toMatchObject({ age: 50, version: 2, email: user.email });

    // JSON.stringify writes a lone surrogate escaped; Redis's JSON decoder refuses it, Node reads it.
    const odd = { ...user, name: 'half \ud800 pair', age: 50, version: 2 };
    await t.redis.set(key, JSON.stringify(odd));
    const answer = await t.http().patch(`/users/${user.id}`).set('If-Match', '"2"').send({ age: 51 }).expect(200);
    expect(answer.body).toMatchObject({ name: 'half \ud800 pair', age: 51 });
    expect(answer.headers.etag).toBe('"3"');
    await t.http().patch(`/users/${user.id}`).set('If-Match', '"2"').send({ age: 52 }).expect(412);

    const email = newUser().email;
    await t.http().patch(`/users/${user.id}`).send({ email, age: 53 }).expect(200);
    expect(JSON.parse((await t.redis.get(key))!)).toMatchObject({ email, age: 53, version: 4 });
    await flush(t);
    expect(await row(t, user.id)).toMatchObject({ email, age: 53, version: 4 });
  });

  it('never brings a deleted user back, whatever order late writes arrive in', async () => {
    const user = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'v1' }))
        .expect(201)
    ).body as { id: number };
    await flush(t);
    const v2 = (await t.http().patch(`/users/${user.id}`).send({ name: 'v2' }).expect(200)).body as { id: number };
    await t.http().delete(`/users/${user.id}`).expect(204);
    await t.http().get(`/users/${user.id}`).expect(404);
    await t.http().patch(`/users/${user.id}`).send({ name: 'v4' }).expect(404);
    await flush(t);
    expect(await row(t, user.id)).toBeUndefined();
    // A redelivered or reordered flush of an older version must not resurrect the row.
    const store = t.app.get<RecordStore>(UserStore) as unknown as WriteBehindStore<UserRecord>;
    const stale = { ...(v2 as unknown as UserRecord), version: 2 };
    await store.applyBatch([stale], []);
    expect(await row(t, user.id)).toBeUndefined();
    await t.http().get(`/users/${user.id}`).expect(404);
  });

  it('applies a flush only when newer than Postgres, so repeats and reordering cannot regress a row', async () => {
    const user = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'first' }))
        .expect(201)
    ).body as UserRecord;
    await t.http().patch(`/users/${user.id}`).send({ name: 'second' }).expect(200);
    await flush(t);
    const store = t.app.get<RecordStore>(UserStore) as unknown as WriteBehindStore<UserRecord>;
    await store.applyBatch([{ ...user, version: 1 }], []);
    expect(await row(t, user.id)).toMatchObject({ name: 'second', version: 2 });
  });

  it('answers 409 at request time for an email held in Postgres or by an unflushed change, and frees released emails', async () => {
    await t
      .http()
      .post('/users')
      .send(newUser({ email: 'ALICE@example.com' }))
      .expect(409);
    const holder = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number; email: string };
    await t
      .http()
      .post('/users')
      .send(newUser({ email: holder.email.toUpperCase() }))
      .expect(409);
    const released = holder.email;
    await t.http().patch(`/users/${holder.id}`).send({ email: newUser().email }).expect(200);
    await t
      .http()
      .post('/users')
      .send(newUser({ email: released }))
      .expect(201);
    await flush(t);
    expect((await t.db.query('SELECT 1 FROM users WHERE lower(email) = lower($1)', [released])).rowCount).toBe(1);
  });
});

describe('write-behind when Redis is unreachable', () => {
  it('refuses writes with 503 instead of accepting what it could lose', async () => {
    const { proxy, url: proxiedRedisUrl } = await proxyInFront(DIRECT_REDIS_URL, 6379);
    const t = await startTestApp(WRITE_BEHIND, {
      env: { ...MANUAL_FLUSH, REDIS_URL: proxiedRedisUrl },
      direct: { redisUrl: DIRECT_REDIS_URL },
    });
    try {
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      proxy.disconnect();
      const refused = await t.http().post('/users').send(newUser()).expect(503);
      expect(refused.body).toEqual({
        statusCode: 503,
        message: expect.stringMatching(/cannot be made durable.*not applied; repeating it is safe/),
        error: 'Service Unavailable',
        outcome: 'not-applied',
      });
      expect(refused.headers['retry-after']).toBe('1');
      await t.http().patch(`/users/${user.id}`).send({ age: 9 }).expect(503);
      await t.http().get(`/users/${user.id}`).expect(503);
      proxy.restore();
      await waitFor(async () => (await t.http().get(`/users/${user.id}`)).status === 200);
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body.age).toBe(30);
      // Flushing resumes once Redis is back: the write accepted before the cut reaches Postgres.
      await waitFor(async () => (await t.http().post('/flush?wait=true')).status === 200, 20_000);
      expect((await t.db.query('SELECT age FROM users WHERE id = $1', [user.id])).rows).toEqual([{ age: 30 }]);
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});

describe('write-behind durability', () => {
  it('keeps every acknowledged write while Postgres is unreachable under load, and flushes them all after', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const t = await startTestApp(WRITE_BEHIND, {
      env: { DATABASE_URL: url, WRITE_BEHIND_BATCH_DELAY_MS: '20', WRITE_BEHIND_BACKOFF_MS: '50' },
      direct: { databaseUrl: DIRECT_DATABASE_URL },
    });
    try {
      const load = runWrites(t, { lanes: 8, opsPerLane: 60 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      proxy.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      proxy.restore();
      const expected = await load;
      expect(expected.size).toBeGreaterThan(100);
      await flush(t);
      expect(await differencesFromPostgres(t, expected)).toEqual([]);
      expect((await t.stats()).deadLettered).toBe(0);
    } finally {
      await t.close();
      await proxy.close();
    }
  });

  it('dead-letters the 1% of changes Postgres keeps refusing, flushes the rest, and replays them on demand', async () => {
    const t = await startTestApp(WRITE_BEHIND, {
      env: {
        WRITE_BEHIND_BATCH_DELAY_MS: '20',
        WRITE_BEHIND_MAX_ATTEMPTS: '3',
        WRITE_BEHIND_BACKOFF_MS: '10',
        WRITE_BEHIND_BATCH_SIZE: '50',
      },
    });
    try {
      await t.db.query(`
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.email LIKE 'poison-%' THEN RAISE EXCEPTION 'poisoned row %', NEW.id; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
      const expected = await runWrites(t, {
        lanes: 4,
        opsPerLane: 50,
        email: (lane, op) =>
          op === 0 && lane < 2 ? `poison-${lane}-${t.prefix.slice(2, 14)}@example.test` : undefined,
      });
      const poisoned = [...expected].filter(([, user]) => user?.email.startsWith('poison-')).map(([id]) => id);
      expect(poisoned.length).toBeGreaterThan(0);
      await waitFor(async () => (await t.stats()).deadLettered === poisoned.length, 20_000);
      await flush(t);
      const healthy = expected.without(poisoned);
      expect(await differencesFromPostgres(t, healthy)).toEqual([]);

      const letters = (await t.http().get('/dead-letters').expect(200)).body as {
        id: number;
        reason: string;
        attempts: number;
      }[];
      expect(letters.map((letter) => letter.id).sort()).toEqual([...poisoned].sort());
      // The reason is a summary: never Postgres's own text, which can quote data and schema names.
      expect(letters.map((letter) => [letter.reason, letter.attempts])).toEqual(
        poisoned.map(() => ['Postgres refused the change (SQLSTATE P0001)', 3]),
      );
      for (const id of poisoned)
        expect((await t.http().get(`/users/${id}`).expect(200)).body.email).toMatch(/^poison-/);

      await t.db.query('DROP TRIGGER refuse_poison ON users');
      expect((await t.http().post('/dead-letters/replay').send({}).expect(200)).body).toEqual({
        replayed: poisoned.length,
      });
      await flush(t);
      expect(await differencesFromPostgres(t, expected)).toEqual([]);
      expect((await t.http().get('/dead-letters').expect(200)).body).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('loses nothing when the worker process is killed with SIGKILL in the middle of a flush, or stopped with SIGTERM', async () => {
    const main = join(process.cwd(), 'dist', 'apps', 'write-behind', 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm run test:e2e does)`);
    const api = await startTestApp(WRITE_BEHIND, {
      env: { WRITE_BEHIND_ROLE: 'api', WRITE_BEHIND_BATCH_DELAY_MS: '10' },
    });
    const worker = (): ChildProcess =>
      spawn(process.execPath, [main], {
        env: {
          ...process.env,
          DATABASE_SCHEMA: api.schema,
          REDIS_KEY_PREFIX: api.prefix,
          WRITE_BEHIND_ROLE: 'worker',
          WRITE_BEHIND_BATCH_SIZE: '20',
          WRITE_BEHIND_CLAIM_TIMEOUT_MS: '1000',
          LOG_LEVEL: 'error',
        },
        stdio: 'ignore',
      });
    try {
      // Slow each row down a little so the kill lands mid-flush.
      await api.db.query(`
        CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$;
        CREATE TRIGGER slow_down BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION slow_down();`);
      const expected = await runWrites(api, { lanes: 8, opsPerLane: 60 });
      const first = worker();
      await waitFor(async () => Number((await api.stats()).flushedRows) > 20, 20_000);
      expect((await api.stats()).pendingWrites).toBeGreaterThan(0);
      const killed = new Promise((resolve) => first.once('exit', resolve));
      first.kill('SIGKILL');
      await killed;
      const killedAt = Date.now();

      const second = worker();
      const afterKill = Number((await api.stats()).flushedRows);
      await waitFor(async () => Number((await api.stats()).flushedRows) > afterKill + 20, 20_000);
      const stopped = new Promise<string>((resolve) =>
        second.once('exit', (code, signal) => resolve(String(signal ?? code))),
      );
      second.kill('SIGTERM');
      // Nest re-raises the signal once its shutdown hooks are done; the batch in hand was acknowledged.
      expect(['0', 'SIGTERM']).toContain(await stopped);
      const claims = await api.redis.hgetall(api.app.get(CacheKeys).writeBehind.claimed);
      expect(Object.values(claims).filter((claimedAt) => Number(claimedAt) >= killedAt)).toEqual([]);

      const third = worker();
      try {
        await waitFor(async () => (await api.stats()).pendingWrites === 0, 30_000);
        expect(await differencesFromPostgres(api, expected)).toEqual([]);
      } finally {
        third.kill('SIGTERM');
        await new Promise((resolve) => third.once('exit', resolve));
      }
    } finally {
      await api.close();
    }
  });
});
