import { CacheKeys } from '@app/cache-core';
import { NO_CACHE } from '../../apps/no-cache/src/app.module';
import { ADAPTERS, entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';

describe.each(ADAPTERS)('no-cache baseline on %s', (adapter) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(NO_CACHE, { adapter });
  });

  afterAll(async () => {
    await t.close();
  });

  it('reads and writes Postgres only, never Redis', async () => {
    const user = (
      await t
        .http()
        .post('/users')
        .send(newUser({ name: 'Plain' }))
        .expect(201)
    ).body as { id: number };
    const before = await t.stats();
    for (let i = 0; i < 3; i += 1) {
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.headers['x-cache']).toBe('BYPASS');
      expect(read.body.name).toBe('Plain');
    }
    await t.http().patch(`/users/${user.id}`).send({ name: 'Changed' }).expect(200);
    expect((await t.db.query('SELECT name, version FROM users WHERE id = $1', [user.id])).rows).toEqual([
      { name: 'Changed', version: 2 },
    ]);
    await t.http().delete(`/users/${user.id}`).expect(204);
    await t.http().get(`/users/${user.id}`).expect(404);
    const after = await t.stats();
    expect(after.dbReads - before.dbReads).toBe(4);
    expect(after.hits).toBe(0);
    expect(await t.redis.exists(entryKey(t, user.id), t.app.get(CacheKeys).lease(user.id))).toBe(0);
  });
});
