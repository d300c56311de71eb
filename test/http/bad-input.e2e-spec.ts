import { CacheKeys } from '@app/cache-core';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { type BlogTestApp, startBlogTestApp } from '../support/blog-app';
import { ADAPTERS, newUser, startTestApp, type TestApp } from '../support/test-app';

const NOT_JSON = {
  statusCode: 415,
  message: 'Send the body as JSON, with Content-Type: application/json',
  error: 'Unsupported Media Type',
};
const NESTED = `{"name":${'['.repeat(3000)}${']'.repeat(3000)},"email":"a@b.test","age":3}`;

describe.each([
  ['cache-aside', CACHE_ASIDE],
  ['write-behind', WRITE_BEHIND],
] as const)('bad input on %s', (_name, definition) => {
  describe.each(ADAPTERS)('on %s', (adapter) => {
    let t: TestApp;
    let user: { id: number };

    beforeAll(async () => {
      t = await startTestApp(definition, { adapter });
      user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    });

    afterAll(async () => {
      await t.close();
    });

    /** Writes accepted so far: into the change log (write-behind; flushes run in the background), or Postgres. */
    async function accepted(): Promise<unknown> {
      const stats = await t.stats();
      return stats.cachedWrites ?? stats.dbWrites;
    }

    it.each([
      ['a NUL character', 'Ann\u0000ie', 'name must be valid Unicode text without NUL characters'],
      ['a lone high surrogate', '\ud800x', 'name must be valid Unicode text without NUL characters'],
      ['a lone low surrogate', 'x\udc00', 'name must be valid Unicode text without NUL characters'],
    ])('refuses a string with %s with 400 naming the field, and stores nothing', async (_label, name, message) => {
      const before = await accepted();
      const input = newUser({ name });
      const created = await t.http().post('/users').send(input).expect(400);
      expect(created.body).toEqual({ statusCode: 400, message, error: 'Bad Request' });
      await t.http().patch(`/users/${user.id}`).send({ name }).expect(400);
      await t
        .http()
        .put(`/users/${user.id}`)
        .send({ ...newUser(), email: `a${name}@example.test` })
        .expect(400);
      expect(await accepted()).toEqual(before);
      expect((await t.db.query('SELECT 1 FROM users WHERE email = $1', [input.email])).rowCount).toBe(0);
    });

    it.each([
      ['/stats?scope[]=5', 'Query parameter scope[]: arrays and objects are not accepted, send one plain value'],
      ['/stats?scope[a]=5', 'Query parameter scope[a]: arrays and objects are not accepted, send one plain value'],
      ['/stats?scope=instance&scope=cluster', 'Query parameter scope is repeated: send it once'],
      ['/users/1?x%5B%5D=1', 'Query parameter x[]: arrays and objects are not accepted, send one plain value'],
    ])('answers %s with 400 naming the parameter, never ignoring it', async (path, message) => {
      const answer = await t.http().get(path).expect(400);
      expect(answer.body).toEqual({ statusCode: 400, message, error: 'Bad Request' });
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
    });

    it('refuses a write whose query is nested before it runs', async () => {
      const before = await accepted();
      await t.http().post('/users?x[]=1').send(newUser()).expect(400);
      expect(await accepted()).toEqual(before);
    });

    it('keeps a real emoji (a valid surrogate pair)', async () => {
      const created = await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Zoë 🚀' }))
        .expect(201);
      expect((await t.http().get(`/users/${created.body.id}`).expect(200)).body.name).toBe('Zoë 🚀');
    });

    it.each([
      ['text/plain', 'text/plain'],
      ['a form', 'application/x-www-form-urlencoded'],
      ['multipart', 'multipart/form-data; boundary=x'],
    ])('answers a write whose body is %s with 415, PATCH included', async (_label, type) => {
      for (const request of [
        t.http().patch(`/users/${user.id}`),
        t.http().put(`/users/${user.id}`),
        t.http().post('/users'),
      ]) {
        const response = await request.set('Content-Type', type).send('{"age":35}');
        expect(response.status).toBe(415);
        expect(response.body).toEqual(NOT_JSON);
      }
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body.age).toBe(30);
    });

    it('answers a JSON body sent without a Content-Type with 415, and asks nothing of writes without a body', async () => {
      const untyped = await t.http().patch(`/users/${user.id}`).send(Buffer.from('{"age":36}'));
      expect(untyped.request.getHeader('Content-Type')).toBeUndefined();
      expect(untyped.status).toBe(415);
      expect(untyped.body).toEqual(NOT_JSON);
      expect((await t.http().get(`/users/${user.id}`).expect(200)).body.age).toBe(30);
      // No body: the content type does not matter, the request goes on (and is refused for what it lacks).
      const empty = await t.http().post('/users').set('Content-Type', 'text/plain');
      expect(empty.status).toBe(400);
      expect(empty.body.message).toBe('The body must be a JSON object, sent with Content-Type: application/json');
      // A read with a body of any type is a read.
      await t.http().get(`/users/${user.id}`).set('Content-Type', 'text/plain').send('hello').expect(200);
    });

    it('answers a PATCH with no body with 400, and one nested thousands of levels deep with 400', async () => {
      const empty = await t.http().patch(`/users/${user.id}`);
      expect(empty.status).toBe(400);
      const nested = await t.http().post('/users').set('Content-Type', 'application/json').send(NESTED);
      expect(nested.status).toBe(400);
      expect(nested.body.message).toBe('The body nests deeper than 32 levels');
    });

    it.each(['__proto__', 'constructor', 'prototype'])('refuses a body with a %s key with 400', async (key) => {
      const body = JSON.stringify({ ...newUser(), age: 31 }).replace(/}$/, `,"${key}":{"age":99}}`);
      const response = await t.http().post('/users').set('Content-Type', 'application/json').send(body);
      expect(response.status).toBe(400);
      // Fastify's own JSON parser already refuses __proto__ (its prototype-poisoning guard); Express parses it.
      const refusedBy =
        adapter === 'fastify' && key === '__proto__' ? /not valid JSON/ : new RegExp(`^${key} is not allowed$`);
      expect(response.body.message).toMatch(refusedBy);
    });
  });
});

describe('write-behind with a change it cannot decode in its log', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(WRITE_BEHIND, {
      env: { WRITE_BEHIND_BATCH_DELAY_MS: '600000', WRITE_BEHIND_FLUSH_INTERVAL_MS: '600000' },
    });
  });

  afterAll(async () => {
    await t.close();
  });

  /** Puts `value` in Redis as the pending change of `id`, as if the accept script had stored it. */
  async function inject(id: number, value: string): Promise<void> {
    const keys = t.app.get(CacheKeys);
    const now = Date.now();
    await t.redis
      .multi()
      .set(keys.entry(id), value)
      .zadd(keys.writeBehind.pending, now, String(id))
      .zadd(keys.writeBehind.accepted, now, String(id))
      .exec();
  }

  it('dead-letters an undecodable row and flushes every other change (no poison pill)', async () => {
    const healthy = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Healthy' }))
        .expect(201)
    ).body as {
      id: number;
    };
    await inject(900_001, '{not json');
    // What JSON.stringify stores for a lone surrogate: Node reads it, Redis's Lua JSON decoder does not.
    const at = new Date().toISOString();
    await inject(
      900_002,
      `{"id":900002,"name":"\\ud800x","email":"lone-${Date.now()}@example.test","age":3,"version":1,"createdAt":"${at}","updatedAt":"${at}"}`,
    );
    await t.http().post('/flush?wait=true').expect(200);
    const stats = await t.stats();
    expect(stats.pendingWrites).toBe(0);
    expect((await t.db.query('SELECT name FROM users WHERE id = $1', [healthy.id])).rows).toEqual([
      { name: 'Healthy' },
    ]);
    expect((await t.db.query('SELECT 1 FROM users WHERE id = $1', [900_002])).rowCount).toBe(1);
    const letters = (await t.http().get('/dead-letters').expect(200)).body as { id: number; reason: string }[];
    expect(letters.map(({ id, reason }) => ({ id, reason }))).toEqual([
      { id: 900_001, reason: 'The stored change cannot be decoded' },
    ]);
    // Writes go on: the flusher was never stuck.
    const later = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Later' }))
        .expect(201)
    ).body as { id: number };
    await t.http().post('/flush?wait=true').expect(200);
    expect((await t.db.query('SELECT name FROM users WHERE id = $1', [later.id])).rows).toEqual([{ name: 'Later' }]);
  });

  it('refuses {"ids": null} on replay with 400 instead of replaying everything', async () => {
    const response = await t.http().post('/dead-letters/replay').send({ ids: null });
    expect(response.status).toBe(400);
    expect((await t.http().get('/dead-letters').expect(200)).body).toHaveLength(1);
  });
});

describe('admin endpoints without ADMIN_TOKEN', () => {
  const CLOSED = {
    statusCode: 403,
    error: 'Forbidden',
    message: expect.stringMatching(/set ADMIN_TOKEN.*ADMIN_OPEN=true/),
  };

  it('are closed with 403 saying how to open them, on every app that has them', async () => {
    const writeBehind = await startTestApp(WRITE_BEHIND, { env: { ADMIN_OPEN: 'false' } });
    const cacheAside = await startTestApp(CACHE_ASIDE, { env: { ADMIN_OPEN: 'false' } });
    const blog = await startBlogTestApp({ env: { ADMIN_OPEN: 'false', BLOG_SEED_POSTS: '600' } });
    try {
      expect((await writeBehind.http().get('/dead-letters').expect(403)).body).toEqual(CLOSED);
      await writeBehind.http().post('/dead-letters/replay').send({}).expect(403);
      expect((await cacheAside.http().post('/cache/clear').expect(403)).body).toEqual(CLOSED);
      await blog.http().post('/cache/warm').expect(403);
      await blog.http().post('/cache/clear').expect(403);
      // Everything else stays open.
      await cacheAside.http().get('/users/1').expect(200);
    } finally {
      await Promise.all([writeBehind.close(), cacheAside.close(), blog.close()]);
    }
  });
});

describe('HEAD on the blog list', () => {
  let blog: BlogTestApp;

  beforeAll(async () => {
    blog = await startBlogTestApp({ env: { BLOG_SEED_POSTS: '1200' } });
  });

  afterAll(async () => {
    await blog.close();
  });

  it.each([
    ['plain', 'identity'],
    ['gzip', 'gzip'],
  ])('answers HEAD /posts (%s) with the headers of a GET and builds nothing', async (_label, encoding) => {
    await blog.http().post('/cache/clear').expect(204);
    const before = (await blog.http().get('/stats').expect(200)).body.list as { chunksBuilt: number };
    const head = await blog.http().head('/posts').set('Accept-Encoding', encoding).expect(200);
    expect(head.headers['x-cache']).toBe('MISS');
    expect(head.headers['x-cache-chunks']).toBe('0/3');
    expect(head.text ?? '').toBe('');
    const after = (await blog.http().get('/stats').expect(200)).body.list as { chunksBuilt: number };
    expect(after.chunksBuilt).toBe(before.chunksBuilt);
  });
});
