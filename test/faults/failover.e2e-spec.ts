import { CacheKeys } from '@app/cache-core';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { entryKey, newUser, startTestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * A master of a Redis Cluster killed (SIGKILL) while reads and writes run. The cluster is this file's own
 * (scripts/cluster.mjs on 7100-7105), so the one other tests use is never touched.
 */
const BASE = 7100;
const NODES = [0, 1, 2].map((offset) => `127.0.0.1:${BASE + offset}`).join(',');
const cluster = (command: 'up' | 'down'): void => {
  execFileSync(process.execPath, ['scripts/cluster.mjs', command], {
    env: { ...process.env, CLUSTER_PORT_BASE: String(BASE) },
    stdio: 'ignore',
    timeout: 120_000,
  });
};

/** The port of the master that serves `key`'s slot now, as the first node that answers sees it. */
async function masterOf(key: string): Promise<number> {
  for (let port = BASE; port < BASE + 6; port += 1) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      connectTimeout: 500,
      commandTimeout: 1000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await probe.connect();
      const slot = (await probe.call('CLUSTER', 'KEYSLOT', key)) as number;
      const ranges = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range !== undefined) return range[2][1];
    } catch {
      // this node is down (the one killed): ask the next
    } finally {
      probe.disconnect();
    }
  }
  throw new Error('no cluster node answered');
}

function kill(port: number): void {
  const pid = Number(readFileSync(join(process.cwd(), '.local', `cluster-${BASE}`, String(port), 'redis.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
}

const ms = (since: number): number => Math.round(performance.now() - since);

describe('a Redis Cluster master failover under load', () => {
  beforeAll(() => cluster('up'), 150_000);
  // The killed node comes back as a replica of its old shard, so the next test starts from a whole cluster.
  afterEach(() => cluster('up'), 150_000);
  afterAll(() => cluster('down'), 60_000);

  it('cache-aside: every read answers and is never older than the last acknowledged write', async () => {
    const t = await startTestApp(CACHE_ASIDE, { env: { REDIS_CLUSTER_NODES: NODES } });
    try {
      const user = (
        await t
          .http()
          .post('/users')
          .send(newUser({ age: 0 }))
          .expect(201)
      ).body as { id: number };
      await t.http().get(`/users/${user.id}`).expect(200);
      const master = await masterOf(entryKey(t, user.id));
      const outcomes: string[] = [];
      let killedAt = 0;
      let hitAgainMs: number | null = null;
      for (let age = 1; age <= 150 && (hitAgainMs === null || age < 40); age += 1) {
        if (age === 20) {
          kill(master);
          killedAt = performance.now();
        }
        const write = await t.http().patch(`/users/${user.id}`).send({ age });
        expect(write.status).toBe(200);
        const read = await t.http().get(`/users/${user.id}`);
        expect(read.status).toBe(200);
        expect(read.body.age).toBe(age);
        const again = await t.http().get(`/users/${user.id}`);
        expect(again.body.age).toBe(age);
        outcomes.push(String(again.headers['x-cache']));
        if (killedAt > 0 && hitAgainMs === null && again.headers['x-cache'] === 'HIT') hitAgainMs = ms(killedAt);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(hitAgainMs).not.toBeNull();
      process.stdout.write(`failover, cache-aside: hits again ${hitAgainMs} ms after the master was killed\n`);
      expect(outcomes.slice(19)).toContain('BYPASS');
    } finally {
      await t.close();
    }
  }, 120_000);

  it('write-behind: writes answer 503 during the failover, succeed again soon after, and none acknowledged is lost', async () => {
    const t = await startTestApp(WRITE_BEHIND, { env: { REDIS_CLUSTER_NODES: NODES, REDIS_WAIT_REPLICAS: '1' } });
    try {
      const master = await masterOf(t.app.get(CacheKeys).writeBehind.pending);
      const acknowledged: number[] = [];
      const refused: number[] = [];
      let killedAt = 0;
      let promotedAt = 0;
      let writesBackAt = 0;
      for (let i = 0; i < 400 && (writesBackAt === 0 || acknowledged.length < 40); i += 1) {
        if (i === 20) {
          kill(master);
          killedAt = performance.now();
        }
        if (killedAt > 0 && promotedAt === 0 && (await masterOf(t.app.get(CacheKeys).writeBehind.pending)) !== master) {
          promotedAt = performance.now();
        }
        const response = await t
          .http()
          .post('/users')
          .send(newUser({ age: i % 150 }))
          .timeout(8000)
          .catch((error: Error) => ({ status: 0, body: { outcome: error.message } }));
        if (response.status === 201) {
          acknowledged.push((response.body as { id: number }).id);
          if (killedAt > 0 && writesBackAt === 0 && i > 20) writesBackAt = performance.now();
        } else {
          expect(response.status).toBe(503);
          expect(['not-applied', 'unknown']).toContain(response.body.outcome);
          refused.push(i);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(promotedAt).toBeGreaterThan(0);
      expect(writesBackAt).toBeGreaterThan(0);
      const recoveryMs = Math.max(0, Math.round(writesBackAt - promotedAt));
      process.stdout.write(
        `failover, write-behind: replica promoted ${Math.round(promotedAt - killedAt)} ms after the kill, ` +
          `writes accepted again ${recoveryMs} ms after that; ${refused.length} writes refused with 503\n`,
      );
      expect(recoveryMs).toBeLessThan(10_000);
      await waitFor(async () => (await t.http().post('/flush?wait=true')).status === 200, 60_000);
      const rows = await t.db.query<{ id: number }>('SELECT id FROM users WHERE id = ANY($1)', [acknowledged]);
      expect(rows.rows.map((row) => row.id).sort((a, b) => a - b)).toEqual([...acknowledged].sort((a, b) => a - b));
    } finally {
      await t.close();
    }
  }, 150_000);
});
