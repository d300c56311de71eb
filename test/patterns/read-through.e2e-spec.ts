import { UserStore } from '@app/users';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { describeCacheStrategyContract } from '../contract/cache-strategy.contract';
import { holdNextLoad } from '../support/gate';
import { ADAPTERS, entryKey, newUser, nextUserId, startTestApp, type TestApp } from '../support/test-app';

describeCacheStrategyContract(READ_THROUGH);

describe.each(ADAPTERS)('read-through on %s', (adapter) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(READ_THROUGH, { adapter, env: { NEGATIVE_TTL_SECONDS: '30' } });
  });

  afterAll(async () => {
    await t.close();
  });

  it('loads through the registered loader on a miss and counts it as a database hit', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    const before = await t.stats();
    expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('MISS');
    expect((await t.http().get(`/users/${user.id}`).expect(200)).headers['x-cache']).toBe('HIT');
    const after = await t.stats();
    expect(after.dbReads - before.dbReads).toBe(1);
    expect(Number(after.databaseHits) - Number(before.databaseHits)).toBe(1);
    expect(Number(after.cacheHits) - Number(before.cacheHits)).toBe(1);
    expect(Number(after.reads) - Number(before.reads)).toBe(2);
  });

  it('remembers a missing id as absent for the negative TTL, so a flood of 404s reads Postgres once', async () => {
    const missing = (await nextUserId(t)) + 10_000;
    const before = await t.stats();
    for (let i = 0; i < 20; i += 1) {
      const response = await t.http().get(`/users/${missing}`).expect(404);
      expect(response.body.message).toBe(`User ${missing} not found`);
    }
    await Promise.all(Array.from({ length: 30 }, () => t.http().get(`/users/${missing}`).expect(404)));
    const after = await t.stats();
    expect(after.dbReads - before.dbReads).toBe(1);
    expect(Number(after.databaseHits)).toBe(Number(before.databaseHits));
    expect(Number(after.absentLoads) - Number(before.absentLoads)).toBe(1);
    expect(await t.redis.get(entryKey(t, missing))).toBe('null');
    const ttl = await t.redis.pttl(entryKey(t, missing));
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('makes a user created after a cached 404 visible at once', async () => {
    const id = await nextUserId(t);
    await t.http().get(`/users/${id}`).expect(404);
    expect(await t.redis.get(entryKey(t, id))).toBe('null');
    const created = await t.http().post('/users').send(newUser()).expect(201);
    expect(created.body.id).toBe(id);
    expect((await t.http().get(`/users/${id}`).expect(200)).body).toEqual(created.body);
  });

  it('shares one load among concurrent misses', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number };
    const before = await t.stats();
    const responses = await Promise.all(Array.from({ length: 50 }, () => t.http().get(`/users/${user.id}`)));
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect((await t.stats()).dbReads - before.dbReads).toBe(1);
  });

  it('never stores the pre-update row when a slow load races a writer', async () => {
    const user = (await t.http().post('/users').send(newUser()).expect(201)).body as { id: number; name: string };
    const gate = holdNextLoad(t.app.get(UserStore));
    const slowRead = t
      .http()
      .get(`/users/${user.id}`)
      .then((response) => response);
    await gate.reached;
    await t
      .http()
      .put(`/users/${user.id}`)
      .send(newUser({ name: 'Newer' }))
      .expect(200);
    gate.open();
    expect((await slowRead).body.name).toBe(user.name);
    expect(await t.redis.get(entryKey(t, user.id))).toBeNull();
    expect((await t.http().get(`/users/${user.id}`).expect(200)).body.name).toBe('Newer');
  });
});
