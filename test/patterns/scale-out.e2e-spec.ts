import { CacheKeys } from '@app/cache-core';
import type { PatternAppDefinition } from '@app/shell';
import { UserStore } from '@app/users';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { holdNextLoad } from '../support/gate';
import { entryKey, newUser, startTestApp, type StatsBody, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * Three instances of one pattern on one schema and key prefix, as behind a load balancer: only the process
 * differs. (In-process apps here; `startup.e2e-spec.ts` runs built apps in their own processes.)
 */
async function threeInstances(definition: PatternAppDefinition, env: Record<string, string> = {}): Promise<TestApp[]> {
  const first = await startTestApp(definition, { env });
  const shared = { ...env, DATABASE_SCHEMA: first.schema, REDIS_KEY_PREFIX: first.prefix };
  const rest = await Promise.all([
    startTestApp(definition, { env: shared, cleanUp: false }),
    startTestApp(definition, { env: shared, cleanUp: false }),
  ]);
  return [first, ...rest];
}

async function closeAll(instances: TestApp[]): Promise<void> {
  for (const instance of [...instances].reverse()) await instance.close();
}

const dbReads = async (instances: TestApp[]): Promise<number> =>
  (await Promise.all(instances.map((instance) => instance.stats()))).reduce((sum, stats) => sum + stats.dbReads, 0);

describe.each([CACHE_ASIDE, READ_THROUGH, WRITE_THROUGH, REFRESH_AHEAD])(
  '$pattern on three instances',
  (definition) => {
    let instances: TestApp[];

    beforeAll(async () => {
      // A generous lease wait, so this proves the waiting, not the machine's speed.
      instances = await threeInstances(definition, { CACHE_LEASE_WAIT_MS: '5000', REFRESH_INTERVAL_MS: '0' });
    });
    afterAll(() => closeAll(instances));

    it('reaches Postgres once for a cold key read through all three at once: the others wait for the lease holder', async () => {
      const [a, b, c] = instances as [TestApp, TestApp, TestApp];
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      await a.redis.del(entryKey(a, user.id));
      const before = await dbReads(instances);
      const gate = holdNextLoad(a.app.get(UserStore));
      const leader = a
        .http()
        .get(`/users/${user.id}`)
        .then((response) => response);
      await gate.reached;
      // a holds the lease and has read the row; b and c miss, find the lease, and wait for a's fill.
      const followers = [b, c, b, c].map((instance) =>
        instance
          .http()
          .get(`/users/${user.id}`)
          .then((response) => response),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      gate.open();
      const responses = await Promise.all([leader, ...followers]);
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
      expect(new Set(responses.map((response) => JSON.stringify(response.body))).size).toBe(1);
      expect(responses.slice(1).map((response) => response.headers['x-cache'])).toEqual(['HIT', 'HIT', 'HIT', 'HIT']);
      expect((await dbReads(instances)) - before).toBe(1);
    });

    it('does not let a dead lease holder stall reads: past the wait, a reader loads without filling', async () => {
      const [a] = instances as [TestApp];
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      await a.redis.del(entryKey(a, user.id));
      // A lease no live reader holds (its holder died), for longer than a reader waits.
      await a.redis.set(a.app.get(CacheKeys).lease(user.id), 'dead-reader', 'PX', 60_000);
      const quick = await startTestApp(definition, {
        env: {
          DATABASE_SCHEMA: a.schema,
          REDIS_KEY_PREFIX: a.prefix,
          CACHE_LEASE_WAIT_MS: '50',
          REFRESH_INTERVAL_MS: '0',
        },
        cleanUp: false,
      });
      try {
        const response = await quick.http().get(`/users/${user.id}`).expect(200);
        expect(response.body).toMatchObject({ id: user.id });
        expect(response.headers['x-cache']).toBe('MISS');
        expect(await a.redis.exists(entryKey(a, user.id))).toBe(0);
        expect(await a.redis.get(a.app.get(CacheKeys).lease(user.id))).toBe('dead-reader');
      } finally {
        await quick.close();
      }
    });

    it('never serves through one instance what a write through another replaced', async () => {
      const [a, b, c] = instances as [TestApp, TestApp, TestApp];
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as { id: number };
      for (let age = 1; age <= 30; age += 1) {
        const writer = instances[age % 3]!;
        await writer.http().patch(`/users/${user.id}`).send({ age }).expect(200);
        for (const reader of [a, b, c]) {
          expect((await reader.http().get(`/users/${user.id}`).expect(200)).body.age).toBe(age);
        }
      }
    });

    it('gives a read that joins a load started before another instance wrote the new row, not the old one', async () => {
      const [a, b] = instances as [TestApp, TestApp];
      const user = (
        await a
          .http()
          .post('/users')
          .send(newUser({ age: 20 }))
          .expect(201)
      ).body as { id: number };
      await b.redis.del(entryKey(b, user.id));
      const gate = holdNextLoad(b.app.get(UserStore));
      const early = b
        .http()
        .get(`/users/${user.id}`)
        .then((response) => response);
      await gate.reached; // b has read age 20 and waits to fill
      await a.http().patch(`/users/${user.id}`).send({ age: 21 }).expect(200); // acknowledged: age 21
      // Joins b's load in flight.
      const late = b
        .http()
        .get(`/users/${user.id}`)
        .then((response) => response);
      await new Promise((resolve) => setTimeout(resolve, 50));
      gate.open();
      expect((await early).body.age).toBe(20); // began before the write: either answer is correct
      expect((await late).body.age).toBe(21);
      expect((await b.http().get(`/users/${user.id}`).expect(200)).body.age).toBe(21);
    });

    it('adds up every live instance in GET /stats?scope=cluster, and each instance drops out when it stops', async () => {
      const [a, b, c] = instances as [TestApp, TestApp, TestApp];
      await b.http().get('/users/1').expect(200);
      await c.http().get('/users/2').expect(200);
      const locals = await Promise.all(instances.map((instance) => instance.stats()));
      const cluster = (await a.http().get('/stats?scope=cluster').expect(200)).body as StatsBody & {
        instanceCount: number;
        instances: StatsBody[];
      };
      expect(cluster).toMatchObject({ scope: 'cluster', pattern: definition.pattern, instanceCount: 3 });
      expect(cluster.instances).toHaveLength(3);
      // Published at most a second ago by b and c, now by a: at least the reads each had made by then.
      expect(cluster.reads).toBeGreaterThanOrEqual(locals[0]!.reads);
      expect(cluster.reads).toBeLessThanOrEqual(locals.reduce((sum, stats) => sum + stats.reads, 0));
      await waitFor(async () => {
        const now = (await a.http().get('/stats?scope=cluster').expect(200)).body as { reads: number };
        const current = await Promise.all(instances.map((instance) => instance.stats()));
        // Only /stats calls (not reads) happened meanwhile, so the sum catches up with the locals.
        return now.reads === current.reduce((sum, stats) => sum + stats.reads, 0);
      }, 10_000);
      await a.http().get('/stats?scope=everything').expect(400);
    });
  },
);

describe('instances that come and go', () => {
  it('drops a stopped instance from GET /stats?scope=cluster', async () => {
    const [a, b, c] = (await threeInstances(CACHE_ASIDE)) as [TestApp, TestApp, TestApp];
    try {
      await waitFor(async () => (await a.http().get('/stats?scope=cluster')).body.instanceCount === 3, 10_000);
      await c.close();
      expect((await a.http().get('/stats?scope=cluster').expect(200)).body.instanceCount).toBe(2);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('shares write-behind flushing between instances, and every acknowledged write reaches Postgres once', async () => {
    const instances = await threeInstances(WRITE_BEHIND);
    try {
      const created = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          instances[i % 3]!.http()
            .post('/users')
            .send(newUser({ age: i }))
            .expect(201),
        ),
      );
      const ids = created.map((response) => (response.body as { id: number }).id);
      await Promise.all(
        ids.map((id, i) =>
          instances[(i + 1) % 3]!.http()
            .patch(`/users/${id}`)
            .send({ age: 100 + i })
            .expect(200),
        ),
      );
      await instances[2]!.http().post('/flush?wait=true').expect(200);
      const rows = await instances[0]!.db.query<{ id: number; age: number; version: number }>(
        'SELECT id, age, version FROM users WHERE id = ANY($1) ORDER BY id',
        [ids],
      );
      expect(Object.fromEntries(rows.rows.map((row) => [row.id, row.age]))).toEqual(
        Object.fromEntries(ids.map((id, i) => [id, 100 + i])),
      );
      expect(rows.rows.every((row) => row.version === 2)).toBe(true);
      const stats = (await instances[0]!.http().get('/stats').expect(200)).body as { pendingWrites: number };
      expect(stats.pendingWrites).toBe(0);
    } finally {
      await closeAll(instances);
    }
  });
});
