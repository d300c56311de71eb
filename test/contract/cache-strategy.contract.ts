import type { PatternAppDefinition } from '@app/shell';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';

interface UserBody {
  id: number;
  name: string;
  email: string;
  age: number;
  createdAt: string;
  updatedAt: string;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The contract every `CacheStrategy` must honour, run against the real app on both HTTP adapters: the HTTP
 * contract, read-your-writes, and what ends up in Postgres and Redis. Each pattern's e2e file calls it
 * and then adds the tests that make that pattern itself.
 */
export function describeCacheStrategyContract(definition: PatternAppDefinition): void {
  describe.each(ADAPTERS)(`${definition.pattern} strategy contract on %s`, (adapter) => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp(definition, { adapter });
    });

    afterAll(async () => {
      await t.close();
    });

    async function create(body = newUser()): Promise<UserBody> {
      const response = await t.http().post('/users').send(body).expect(201);
      return response.body as UserBody;
    }

    async function flushed(): Promise<void> {
      if (definition.pattern === 'write-behind') await t.http().post('/flush?wait=true').expect(200);
    }

    async function dbRow(id: number): Promise<Record<string, unknown> | undefined> {
      const result = await t.db.query('SELECT * FROM users WHERE id = $1', [id]);
      return result.rows[0] as Record<string, unknown> | undefined;
    }

    it('seeds the five demo users on first start', async () => {
      const result = await t.db.query<{ name: string; email: string; age: number }>(
        'SELECT name, email, age FROM users ORDER BY id LIMIT 5',
      );
      expect(result.rows).toEqual([
        { name: 'Alice Johnson', email: 'alice@example.com', age: 28 },
        { name: 'Bob Smith', email: 'bob@example.com', age: 35 },
        { name: 'Charlie Brown', email: 'charlie@example.com', age: 42 },
        { name: 'Diana Prince', email: 'diana@example.com', age: 31 },
        { name: 'Eve Anderson', email: 'eve@example.com', age: 26 },
      ]);
    });

    it('creates a user: 201, the stored fields, ISO timestamps, no internal version', async () => {
      const input = newUser({ name: 'Grace Hopper', age: 85 });
      const user = await create(input);
      expect(user).toEqual({
        id: expect.any(Number),
        name: 'Grace Hopper',
        email: input.email,
        age: 85,
        createdAt: expect.stringMatching(ISO_UTC),
        updatedAt: expect.stringMatching(ISO_UTC),
      });
      await flushed();
      expect(await dbRow(user.id)).toMatchObject({ name: 'Grace Hopper', email: input.email, age: 85, version: 1 });
    });

    it('reads a user back, then serves it from Redis', async () => {
      const user = await create();
      const first = await t.http().get(`/users/${user.id}`).expect(200);
      expect(first.body).toEqual(user);
      expect(['HIT', 'MISS']).toContain(first.headers['x-cache']);
      const second = await t.http().get(`/users/${user.id}`).expect(200);
      expect(second.headers['x-cache']).toBe('HIT');
      expect(second.body).toEqual(user);
      const cached = JSON.parse((await t.redis.get(entryKey(t, user.id))) ?? 'null') as UserBody | null;
      expect(cached).toMatchObject({ id: user.id, email: user.email, version: 1 });
    });

    it('PUT replaces every field and the next read sees it', async () => {
      const user = await create();
      await t.http().get(`/users/${user.id}`).expect(200);
      const replacement = newUser({ name: 'Replaced', age: 44 });
      const updated = await t.http().put(`/users/${user.id}`).send(replacement).expect(200);
      expect(updated.body).toMatchObject({ id: user.id, ...replacement, createdAt: user.createdAt });
      expect(Date.parse(updated.body.updatedAt as string)).toBeGreaterThanOrEqual(Date.parse(user.updatedAt));
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.body).toEqual(updated.body);
      await flushed();
      expect(await dbRow(user.id)).toMatchObject({ ...replacement, version: 2 });
      const cached = await t.redis.get(entryKey(t, user.id));
      if (cached !== null) expect(JSON.parse(cached)).toMatchObject({ ...replacement, version: 2 });
    });

    it('PATCH changes only the fields sent', async () => {
      const user = await create();
      const patched = await t.http().patch(`/users/${user.id}`).send({ age: 61 }).expect(200);
      expect(patched.body).toMatchObject({ id: user.id, name: user.name, email: user.email, age: 61 });
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body).toEqual(patched.body);
      await flushed();
      expect(await dbRow(user.id)).toMatchObject({ name: user.name, age: 61, version: 2 });
    });

    it('DELETE answers 204 with no body; the user is gone from every read and from Postgres', async () => {
      const user = await create();
      await t.http().get(`/users/${user.id}`).expect(200);
      const deleted = await t.http().delete(`/users/${user.id}`).expect(204);
      expect(deleted.text).toBe('');
      const read = await t.http().get(`/users/${user.id}`).expect(404);
      expect(read.body).toEqual({ statusCode: 404, message: `User ${user.id} not found`, error: 'Not Found' });
      await flushed();
      expect(await dbRow(user.id)).toBeUndefined();
      await t.http().delete(`/users/${user.id}`).expect(404);
      await t.http().put(`/users/${user.id}`).send(newUser()).expect(404);
    });

    it('a missing user is 404, and creating it afterwards makes it visible at once', async () => {
      const next = (await t.db.query<{ id: number }>('SELECT COALESCE(max(id), 0) + 1 AS id FROM users')).rows[0]!.id;
      await t
        .http()
        .get(`/users/${next + 1000}`)
        .expect(404);
      const user = await create();
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body).toEqual(user);
    });

    it('rejects a duplicate email with 409, case-insensitively, and changes nothing', async () => {
      const user = await create();
      const response = await t
        .http()
        .post('/users')
        .send(newUser({ email: user.email.toUpperCase() }))
        .expect(409);
      expect(response.body).toEqual({
        statusCode: 409,
        message: expect.stringContaining('already taken'),
        error: 'Conflict',
      });
      const other = await create();
      await t.http().patch(`/users/${other.id}`).send({ email: user.email }).expect(409);
      expect((await t.http().get(`/users/${other.id}`).expect(200)).body.email).toBe(other.email);
    });

    it.each([
      ['empty name', { name: '' }],
      ['blank name', { name: '   ' }],
      ['name over 255', { name: 'x'.repeat(256) }],
      ['bad email', { email: 'not-an-email' }],
      ['email over 255', { email: `${'a'.repeat(250)}@example.com` }],
      ['negative age', { age: -1 }],
      ['age over 150', { age: 151 }],
      ['fractional age', { age: 30.5 }],
      ['age as string', { age: '30' }],
      ['unknown field', { admin: true }],
      ['null name', { name: null }],
    ])('rejects %s with 400', async (_label, override) => {
      const response = await t
        .http()
        .post('/users')
        .send({ ...newUser(), ...override })
        .expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(JSON.stringify(response.body)).not.toMatch(/at .*\.(ts|js):\d+|SELECT|INSERT/);
    });

    it.each(['abc', '0', '-1', '1.5', '1e3', '2147483648', '99999999999999999999'])(
      'rejects id %s with 400',
      async (id) => {
        const response = await t.http().get(`/users/${id}`).expect(400);
        expect(response.body.message).toMatch(/positive 32-bit integer/);
      },
    );

    it('rejects malformed JSON with 400, a body over 100 KB with 413, an empty PATCH with 400', async () => {
      const user = await create();
      const malformed = await t
        .http()
        .post('/users')
        .set('Content-Type', 'application/json')
        .send('{"name": "x",')
        .expect(400);
      expect(malformed.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      const huge = await t
        .http()
        .post('/users')
        .send({ ...newUser(), name: 'x'.repeat(120 * 1024) })
        .expect(413);
      expect(huge.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
      await t.http().patch(`/users/${user.id}`).send({}).expect(400);
      await t.http().put(`/users/${user.id}`).send({ age: 3 }).expect(400);
    });

    it('keeps Redis and Postgres agreeing under concurrent updates of one user', async () => {
      const user = await create();
      await t.http().get(`/users/${user.id}`).expect(200);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          t
            .http()
            .patch(`/users/${user.id}`)
            .send({ age: i + 1 })
            .expect(200),
        ),
      );
      await flushed();
      const row = await dbRow(user.id);
      expect(row?.version).toBe(21);
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.body.age).toBe(row?.age);
    });

    it('sends the version as a strong ETag on reads and writes, and answers If-None-Match with 304', async () => {
      const created = await t.http().post('/users').send(newUser()).expect(201);
      expect(created.headers.etag).toBe('"1"');
      const user = created.body as UserBody;
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.headers.etag).toBe('"1"');
      for (const tag of ['"1"', 'W/"1"', '"7", "1"', '*']) {
        const unchanged = await t.http().get(`/users/${user.id}`).set('If-None-Match', tag).expect(304);
        expect(unchanged.text).toBe('');
        expect(unchanged.headers.etag).toBe('"1"');
        expect(['HIT', 'MISS', 'BYPASS']).toContain(unchanged.headers['x-cache']);
      }
      const patched = await t.http().patch(`/users/${user.id}`).send({ age: 50 }).expect(200);
      expect(patched.headers.etag).toBe('"2"');
      const changed = await t.http().get(`/users/${user.id}`).set('If-None-Match', '"1"').expect(200);
      expect(changed.headers.etag).toBe('"2"');
      expect(changed.body.age).toBe(50);
      await t.http().get(`/users/${user.id}`).set('If-None-Match', 'nonsense').expect(400);
    });

    it('applies PUT, PATCH and DELETE with If-Match only while the ETag is current: 412 otherwise, nothing changed', async () => {
      const user = await create();
      const stale = await t.http().patch(`/users/${user.id}`).set('If-Match', '"2"').send({ age: 70 }).expect(412);
      expect(stale.body).toEqual({
        statusCode: 412,
        message: `User ${user.id} has changed since that ETag; read it again`,
        error: 'Precondition Failed',
      });
      await t.http().patch(`/users/${user.id}`).set('If-Match', 'W/"1"').send({ age: 70 }).expect(412);
      await t.http().put(`/users/${user.id}`).set('If-Match', '"9"').send(newUser()).expect(412);
      await t.http().delete(`/users/${user.id}`).set('If-Match', '"5", "6"').expect(412);
      await t.http().patch(`/users/${user.id}`).set('If-Match', '1').send({ age: 70 }).expect(400);
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body).toEqual(user);

      const first = await t.http().patch(`/users/${user.id}`).set('If-Match', '"0", "1"').send({ age: 71 }).expect(200);
      expect(first.headers.etag).toBe('"2"');
      // A lost update: a second writer that read version 1 too is refused instead of overwriting.
      await t.http().patch(`/users/${user.id}`).set('If-Match', '"1"').send({ age: 99 }).expect(412);
      await t
        .http()
        .put(`/users/${user.id}`)
        .set('If-Match', '*')
        .send({ ...newUser(), age: 72 })
        .expect(200);
      await t.http().delete(`/users/${user.id}`).set('If-Match', '"2"').expect(412);
      await flushed();
      expect(await dbRow(user.id)).toMatchObject({ age: 72, version: 3 });
      const cached = await t.redis.get(entryKey(t, user.id));
      if (cached !== null) expect(JSON.parse(cached)).toMatchObject({ age: 72, version: 3 });
      await t.http().delete(`/users/${user.id}`).set('If-Match', '"3"').expect(204);
      await t.http().delete(`/users/${user.id}`).set('If-Match', '*').expect(404);
      await flushed();
      expect(await dbRow(user.id)).toBeUndefined();
    });

    it('answers a repeated POST with the same Idempotency-Key from the first outcome: one user, not two', async () => {
      const input = newUser({ name: 'Once' });
      const key = `create-${input.email}`;
      const first = await t.http().post('/users').set('Idempotency-Key', key).send(input).expect(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const again = await t.http().post('/users').set('Idempotency-Key', key).send(input).expect(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers.etag).toBe(first.headers.etag);
      expect(again.body).toEqual(first.body);
      // The same body with its keys in another order is the same request.
      const reordered = Object.fromEntries(Object.entries(input).reverse());
      await t.http().post('/users').set('Idempotency-Key', key).send(reordered).expect(201);
      const other = await t.http().post('/users').set('Idempotency-Key', key).send(newUser()).expect(422);
      expect(other.body).toEqual({
        statusCode: 422,
        message: 'This Idempotency-Key was already used with a different request',
        error: 'Unprocessable Content',
      });
      await flushed();
      const rows = await t.db.query('SELECT id FROM users WHERE email = $1', [input.email]);
      expect(rows.rows).toEqual([{ id: first.body.id }]);
      // Without the key, the same body is a new request (and a duplicate email).
      await t.http().post('/users').send(input).expect(409);
    });

    it('replays PATCH and DELETE retries instead of applying them twice, and scopes keys per route', async () => {
      const user = await create();
      const key = `patch-${user.id}-${Date.now()}`;
      const patched = await t
        .http()
        .patch(`/users/${user.id}`)
        .set('Idempotency-Key', key)
        .set('If-Match', '"1"')
        .send({ age: 42 })
        .expect(200);
      // The retry's If-Match is stale now; the replay answers what the first request got.
      const retried = await t
        .http()
        .patch(`/users/${user.id}`)
        .set('Idempotency-Key', key)
        .set('If-Match', '"1"')
        .send({ age: 42 })
        .expect(200);
      expect(retried.body).toEqual(patched.body);
      expect(retried.headers['idempotent-replayed']).toBe('true');
      await t.http().patch(`/users/${user.id}`).set('Idempotency-Key', key).send({ age: 43 }).expect(422);
      // The same key on another route is another key.
      await t
        .http()
        .put(`/users/${user.id}`)
        .set('Idempotency-Key', key)
        .send({ ...newUser(), age: 44 })
        .expect(200);
      await flushed();
      expect(await dbRow(user.id)).toMatchObject({ age: 44, version: 3 });

      const deleteKey = `delete-${user.id}-${Date.now()}`;
      await t.http().delete(`/users/${user.id}`).set('Idempotency-Key', deleteKey).expect(204);
      const again = await t.http().delete(`/users/${user.id}`).set('Idempotency-Key', deleteKey).expect(204);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.text).toBe('');
      await t.http().delete(`/users/${user.id}`).expect(404);
    });

    it.each([
      ['empty', ''],
      ['too long', 'k'.repeat(256)],
      ['not ASCII', 'clé'],
    ])('rejects an Idempotency-Key that is %s with 400', async (_label, key) => {
      const input = newUser();
      const response = await t.http().post('/users').set('Idempotency-Key', key).send(input);
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/Idempotency-Key/);
      await flushed();
      expect((await t.db.query('SELECT 1 FROM users WHERE email = $1', [input.email])).rowCount).toBe(0);
    });

    it('reports stats with counters and latency percentiles', async () => {
      const user = await create();
      await t.http().get(`/users/${user.id}`).expect(200);
      await t.http().get(`/users/${user.id}`).expect(200);
      const stats = await t.stats();
      expect(stats).toMatchObject({
        pattern: definition.pattern,
        hits: expect.any(Number),
        misses: expect.any(Number),
        hitRatio: expect.any(Number),
        dbReads: expect.any(Number),
        dbWrites: expect.any(Number),
        cacheWrites: expect.any(Number),
        invalidations: expect.any(Number),
        errors: expect.any(Number),
      });
      expect(stats.hits).toBeGreaterThan(0);
      expect(stats.hitRatio).toBeGreaterThan(0);
      expect(stats.hitRatio).toBeLessThanOrEqual(1);
      expect(stats.latencyMs).toMatchObject({
        read: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
        write: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
      });
    });

    it('reports Postgres and Redis up on /health and serves the OpenAPI document', async () => {
      const health = await t.http().get('/health').expect(200);
      expect(health.body).toMatchObject({
        status: 'ok',
        info: { postgres: { status: 'up' }, redis: { status: 'up' } },
      });
      const openapi = await t.http().get('/docs-json').expect(200);
      expect(Object.keys(openapi.body.paths as object)).toEqual(
        expect.arrayContaining(['/users', '/users/{id}', '/stats', '/health']),
      );
      await t.http().get('/docs').expect(200);
    });
  });
}
