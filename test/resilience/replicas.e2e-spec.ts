import { CacheKeys, CacheStrategy } from '@app/cache-core';
import type { PatternAppDefinition } from '@app/shell';
import type { Client } from 'pg';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { inflateSegment } from '../../libs/blog/src/list/gzip-segments';
import { ListChunks } from '../../libs/blog/src/list/list-chunks';
import { POSTS_AS_JSON, startBlogTestApp } from '../support/blog-app';
import { type ReplicaPair, replicaClient, startReplicaPair } from '../support/postgres-replica';
import { timersArmedBy } from '../support/armed-timers';
import { entryKey, newUser, startTestApp, type TestApp, uniqueName } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * Postgres read replicas behind the cache (`DATABASE_REPLICA_URLS`), on a private primary + streaming replica
 * pair started from the machine's Postgres binaries. Replication lag is made deterministic with
 * `pg_wal_replay_pause()` on the replica: a write then commits on the primary and the replica keeps the old row.
 * A load after a miss may go to the replica only if its row is at least as new as the floor the lease step
 * brings from Redis; an older row (or a deleted record's row, or no row for a new record) is refused and read
 * from the primary. What the client sees, what Redis holds and what the replica still has are all checked.
 */
const DATABASE = 'caching_patterns';

interface ReplicaCounters {
  fromReplica: number;
  fromPrimary: number;
  refusedReplicaRows: number;
  replicas: { url: string; up: boolean; lagMs: number | null; used: boolean }[];
}

type User = { id: number; name: string; version: number };

/** The body with its version, which the API sends as the `ETag`. */
function userOf(response: { body: unknown; headers: Record<string, string> }): User {
  return { ...(response.body as User), version: Number(JSON.parse(response.headers.etag!)) };
}

let pair: ReplicaPair;

beforeAll(async () => {
  pair = await startReplicaPair();
}, 120_000);

afterAll(() => {
  pair?.remove();
});

describe.each([CACHE_ASIDE, READ_THROUGH, WRITE_THROUGH, REFRESH_AHEAD] as PatternAppDefinition[])(
  '$pattern with a read replica',
  (definition) => {
    let a: TestApp;
    let b: TestApp;
    let replica: Client;

    async function counters(t: TestApp): Promise<ReplicaCounters> {
      return (await t.stats()).replicas as ReplicaCounters;
    }

    /** The row as the replica has it (null: not there yet). */
    async function onReplica(t: TestApp, id: number): Promise<User | null> {
      const sql = `SELECT id, name, version FROM "${t.schema}".users WHERE id = $1`;
      const { rows } = await replica.query<User>(sql, [id]);
      return rows[0] ?? null;
    }

    /** True once the replica has replayed the app's migrations. */
    async function replicaHasTables(t: TestApp): Promise<boolean> {
      const { rows } = await replica.query('SELECT to_regclass($1) IS NOT NULL AS there', [`"${t.schema}".users`]);
      return rows[0].there as boolean;
    }

    /** What Redis holds for the user: its version, null for "absent", undefined for no entry. */
    async function cached(t: TestApp, id: number): Promise<number | null | undefined> {
      const raw = await t.redis.get(entryKey(t, id));
      if (raw === null) return undefined;
      return (JSON.parse(raw) as User | null)?.version ?? null;
    }

    /** A user the replica has replayed, with no entry in Redis (the next read is a miss). */
    async function replayedUser(): Promise<User> {
      const user = userOf(await a.http().post('/users').send(newUser()).expect(201));
      await waitFor(async () => (await onReplica(a, user.id)) !== null);
      await a.redis.del(entryKey(a, user.id));
      return user;
    }

    async function pauseReplay(): Promise<void> {
      await replica.query('SELECT pg_wal_replay_pause()');
      await waitFor(
        async () => (await replica.query("SELECT pg_get_wal_replay_pause_state() = 'paused' AS p")).rows[0].p,
      );
    }

    beforeAll(async () => {
      const schema = uniqueName(`${definition.pattern}_replica`);
      const env = {
        DATABASE_URL: pair.url(DATABASE),
        DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
        DATABASE_REPLICA_MAX_LAG_MS: '50000',
        DATABASE_SCHEMA: schema,
        REDIS_KEY_PREFIX: `${schema}:`,
        REFRESH_INTERVAL_MS: '0',
      };
      const direct = { databaseUrl: pair.url(DATABASE) };
      b = await startTestApp(definition, { env, direct, cleanUp: false });
      a = await startTestApp(definition, { env, direct });
      replica = await replicaClient(pair, DATABASE);
      // The schema and its tables reach the replica, and both instances see it in use.
      await waitFor(() => replicaHasTables(a), 20_000);
      await waitFor(
        async () => (await counters(a)).replicas[0]?.used === true && (await counters(b)).replicas[0]?.used === true,
        20_000,
      );
    }, 120_000);

    afterEach(async () => {
      await replica.query('SELECT pg_wal_replay_resume()');
    });

    afterAll(async () => {
      await replica?.end();
      await b?.close();
      await a?.close();
    });

    it('serves a miss from the replica once it has replayed the row', async () => {
      const user = await replayedUser();
      const before = await counters(a);
      const read = await a.http().get(`/users/${user.id}`).expect(200);
      expect(read.body).toMatchObject({ id: user.id, name: user.name });
      expect(read.headers['x-cache']).toBe('MISS');
      expect((await counters(a)).fromReplica).toBe(before.fromReplica + 1);
      expect(await cached(a, user.id)).toBe(user.version);
    });

    it("replay paused: after an update, reads through either instance answer it, never the replica's old row", async () => {
      const user = await replayedUser();
      await pauseReplay();
      const updated = userOf(
        await a.http().patch(`/users/${user.id}`).send({ name: 'Written on the primary' }).expect(200),
      );
      await a.redis.del(entryKey(a, user.id));
      // The replica still has the old row.
      expect(await onReplica(a, user.id)).toMatchObject({ version: user.version });
      const before = await counters(b);
      const read = await b.http().get(`/users/${user.id}`).expect(200);
      expect(userOf(read)).toMatchObject({ name: 'Written on the primary', version: updated.version });
      expect(updated.version).toBe(user.version + 1);
      expect((await counters(b)).refusedReplicaRows).toBe(before.refusedReplicaRows + 1);
      expect(await cached(b, user.id)).toBe(updated.version);
      const again = await a.http().get(`/users/${user.id}`).expect(200);
      expect(again.body).toMatchObject({ name: 'Written on the primary' });
    });

    it("replay paused: a deleted user is a 404, never the replica's row", async () => {
      const user = await replayedUser();
      await pauseReplay();
      await a.http().delete(`/users/${user.id}`).expect(204);
      expect(await onReplica(a, user.id)).not.toBeNull();
      const before = await counters(b);
      await b.http().get(`/users/${user.id}`).expect(404);
      expect((await counters(b)).refusedReplicaRows).toBe(before.refusedReplicaRows + 1);
      expect(await cached(b, user.id)).not.toBe(user.version);
    });

    it('replay paused: a new user is found, not a 404 nor a cached "absent"', async () => {
      await pauseReplay();
      const created = userOf(await a.http().post('/users').send(newUser()).expect(201));
      await a.redis.del(entryKey(a, created.id));
      expect(await onReplica(a, created.id)).toBeNull();
      const read = await b.http().get(`/users/${created.id}`).expect(200);
      expect(userOf(read)).toMatchObject({ id: created.id, version: created.version });
      expect(await cached(b, created.id)).toBe(created.version);
    });

    it('after replay resumes, misses are served from the replica again', async () => {
      await pauseReplay();
      const user = (await a.http().post('/users').send(newUser()).expect(201)).body as User;
      await replica.query('SELECT pg_wal_replay_resume()');
      await waitFor(async () => (await onReplica(a, user.id)) !== null);
      await a.redis.del(entryKey(a, user.id));
      const before = await counters(b);
      await b.http().get(`/users/${user.id}`).expect(200);
      expect((await counters(b)).fromReplica).toBe(before.fromReplica + 1);
    });
  },
);

describe('cache-aside when its read replica stops', () => {
  it('reads go on from the primary, health says degraded, and the replica is used again once back', async () => {
    const schema = uniqueName('cache_aside_replica_down');
    const t = await startTestApp(CACHE_ASIDE, {
      env: {
        DATABASE_URL: pair.url(DATABASE),
        DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
        DATABASE_SCHEMA: schema,
        REDIS_KEY_PREFIX: `${schema}:`,
      },
      direct: { databaseUrl: pair.url(DATABASE) },
    });
    try {
      const counters = async (): Promise<ReplicaCounters> => (await t.stats()).replicas as ReplicaCounters;
      await waitFor(async () => (await counters()).replicas[0]?.used === true, 20_000);
      pair.stopReplica();
      const user = (await t.http().post('/users').send(newUser()).expect(201)).body as User;
      const before = await counters();
      await t.http().get(`/users/${user.id}`).expect(200);
      expect((await counters()).fromPrimary).toBe(before.fromPrimary + 1);
      await waitFor(async () => (await counters()).replicas[0]?.used === false);
      const health = await t.http().get('/health').expect(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.error.replicas.replicas[0]).toMatchObject({ up: false, used: false });
      pair.startReplica();
      await waitFor(async () => (await t.http().get('/health')).body.status === 'ok', 30_000);
      // Once it has replayed the user (the slot kept the WAL for it), a miss is served from it again.
      await waitFor(async () => {
        await t.redis.del(entryKey(t, user.id));
        const back = await counters();
        await t.http().get(`/users/${user.id}`).expect(200);
        return (await counters()).fromReplica === back.fromReplica + 1;
      }, 30_000);
    } finally {
      pair.startReplica();
      await t.close();
    }
  }, 120_000);
});

describe('an app with a read replica, stopping', () => {
  it('closes its replica pools and leaves no timer armed', async () => {
    const schema = uniqueName('replica_shutdown');
    const t = await startTestApp(CACHE_ASIDE, {
      env: {
        DATABASE_URL: pair.url(DATABASE),
        DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
        DATABASE_SCHEMA: schema,
        REDIS_KEY_PREFIX: `${schema}:`,
      },
      direct: { databaseUrl: pair.url(DATABASE) },
    });
    await waitFor(async () => ((await t.stats()).replicas as ReplicaCounters).replicas[0]?.used === true, 20_000);
    // Its own connections to the replica, by the application_name its pool gives them.
    const onReplica = await replicaClient(pair, DATABASE);
    const replicaBackends = async (): Promise<number> =>
      (
        await onReplica.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name LIKE '% (replica reads)'`,
        )
      ).rows[0]!.count;
    try {
      expect(await replicaBackends()).toBeGreaterThan(0);
      // One replica: one wait for its pool to close.
      const timers = await timersArmedBy(['DatabaseReplicas.onApplicationShutdown'], () => t.close());
      expect(timers).toEqual({ armed: 1, left: 0 });
      await waitFor(async () => (await replicaBackends()) === 0);
    } finally {
      await onReplica.end();
    }
  }, 60_000);
});

describe("refresh-ahead's refreshes with a read replica", () => {
  it("refresh from the replica, and after a write with replay paused, from the primary: never the replica's old row", async () => {
    const schema = uniqueName('refresh_ahead_replica');
    const t = await startTestApp(REFRESH_AHEAD, {
      env: {
        DATABASE_URL: pair.url(DATABASE),
        DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
        DATABASE_REPLICA_MAX_LAG_MS: '50000',
        DATABASE_SCHEMA: schema,
        REDIS_KEY_PREFIX: `${schema}:`,
        REFRESH_INTERVAL_MS: '0',
        HOT_MIN_SCORE: '3',
        CACHE_TTL_SECONDS: '2',
        CACHE_GRACE_SECONDS: '0',
        REFRESH_THRESHOLD: '0.99',
      },
      direct: { databaseUrl: pair.url(DATABASE) },
    });
    const replica = await replicaClient(pair, DATABASE);
    try {
      const counters = async (): Promise<ReplicaCounters> => (await t.stats()).replicas as ReplicaCounters;
      const strategy: unknown = t.app.get(CacheStrategy);
      const sweep = (): Promise<{ refreshed: number }> =>
        (strategy as { sweep(): Promise<{ refreshed: number }> }).sweep();
      const onReplica = async (id: number): Promise<number | null> => {
        const sql = `SELECT version FROM "${schema}".users WHERE id = $1`;
        return (await replica.query<{ version: number }>(sql, [id])).rows[0]?.version ?? null;
      };
      const cachedVersion = async (id: number): Promise<number | undefined> => {
        const raw = await t.redis.get(entryKey(t, id));
        return raw === null ? undefined : (JSON.parse(raw) as User).version;
      };
      await waitFor(async () => (await counters()).replicas[0]?.used === true, 20_000);
      const user = userOf(await t.http().post('/users').send(newUser()).expect(201));
      // (The replica may not have the schema yet: its query then fails.)
      await waitFor(async () => (await onReplica(user.id).catch(() => null)) === user.version, 20_000);
      // Hot (read past HOT_MIN_SCORE), and soon due (within 99 % of its 2 s TTL, or expired).
      for (let i = 0; i < 4; i += 1) await t.http().get(`/users/${user.id}`).expect(200);
      await waitFor(async () => (await t.redis.pttl(entryKey(t, user.id))) < 1980);
      let before = await counters();
      expect(await sweep()).toMatchObject({ refreshed: 1 });
      let after = await counters();
      expect(after.fromReplica).toBe(before.fromReplica + 1);
      expect(await cachedVersion(user.id)).toBe(user.version);

      await replica.query('SELECT pg_wal_replay_pause()');
      await waitFor(
        async () => (await replica.query("SELECT pg_get_wal_replay_pause_state() = 'paused' AS p")).rows[0].p,
      );
      const updated = userOf(await t.http().patch(`/users/${user.id}`).send({ name: 'Refreshed' }).expect(200));
      expect(await onReplica(user.id)).toBe(user.version);
      // Write-through (which refresh-ahead extends) cached the update: due again once within its refresh window.
      await waitFor(async () => (await t.redis.pttl(entryKey(t, user.id))) < 1980);
      before = await counters();
      expect(await sweep()).toMatchObject({ refreshed: 1 });
      after = await counters();
      expect(after.refusedReplicaRows).toBe(before.refusedReplicaRows + 1);
      expect(after.fromPrimary).toBe(before.fromPrimary + 1);
      expect(await cachedVersion(user.id)).toBe(updated.version);
      const read = await t.http().get(`/users/${user.id}`).expect(200);
      expect(read.body.name).toBe('Refreshed');
    } finally {
      await replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await replica.end();
      await t.close();
    }
  }, 120_000);
});

describe('the blog with a read replica', () => {
  it("reads a post from the replica, and a post written with replay paused new, never the replica's old row", async () => {
    const blog = await startBlogTestApp({
      env: {
        DATABASE_URL: pair.url(DATABASE),
        DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
        DATABASE_REPLICA_MAX_LAG_MS: '50000',
      },
    });
    const replica = await replicaClient(pair, DATABASE);
    try {
      const counters = async (): Promise<ReplicaCounters> =>
        (await blog.http().get('/stats').expect(200)).body.replicas as ReplicaCounters;
      const onReplica = async (): Promise<string | null> => {
        const { rows } = await replica.query<{ title: string }>(
          `SELECT title FROM "${blog.schema}".posts WHERE id = 5`,
        );
        return rows[0]?.title ?? null;
      };
      const tableThere = async (): Promise<boolean> =>
        (await replica.query('SELECT to_regclass($1) IS NOT NULL AS there', [`"${blog.schema}".posts`])).rows[0]
          .there as boolean;
      await waitFor(async () => (await tableThere()) && (await onReplica()) !== null, 30_000);
      await waitFor(async () => (await counters()).replicas[0]?.used === true, 20_000);
      const entry = blog.app.get(CacheKeys).entry(5);
      await blog.redis.del(entry);
      const before = await counters();
      await blog.http().get('/posts/5').expect(200);
      expect((await counters()).fromReplica).toBe(before.fromReplica + 1);

      await replica.query('SELECT pg_wal_replay_pause()');
      await waitFor(
        async () =>
          (await replica.query("SELECT pg_get_wal_replay_pause_state() = 'paused' AS p")).rows[0].p as boolean,
      );
      const old = await onReplica();
      await blog.http().put('/posts/5').send({ title: 'Written on the primary' }).expect(200);
      await blog.redis.del(entry);
      expect(await onReplica()).toBe(old);
      const mid = await counters();
      const read = await blog.http().get('/posts/5').expect(200);
      expect(read.body).toMatchObject({ id: 5, title: 'Written on the primary' });
      expect((await counters()).refusedReplicaRows).toBe(mid.refusedReplicaRows + 1);
      expect(JSON.parse((await blog.redis.get(entry))!)).toMatchObject({ title: 'Written on the primary' });
    } finally {
      await replica.query('SELECT pg_wal_replay_resume()');
      await replica.end();
      await blog.close();
    }
  }, 120_000);

  it('builds list chunks and pages on the replica, and after writes with replay paused, never from its old rows', async () => {
    const blog = await startBlogTestApp({
      env: {
        DATABASE_URL: pair.url(DATABASE),
        DATABASE_REPLICA_URLS: pair.url(DATABASE, 'replica'),
        DATABASE_REPLICA_MAX_LAG_MS: '50000',
        // A replica that is streaming replays within the default 50 ms on an idle machine, not always on a
        // loaded one (a read then goes to the primary, as it should); the caught-up reads below must all
        // go to the replica, so they may wait for it longer here.
        DATABASE_REPLICA_REPLAY_WAIT_MS: '2000',
      },
    });
    const replica = await replicaClient(pair, DATABASE);
    try {
      type ListCounters = { listReadsFromReplica: number; listReadsFromPrimary: number; listReplicaRefused: number };
      const list = async (): Promise<ListCounters> =>
        (await blog.http().get('/stats').expect(200)).body.list as ListCounters;
      const replicaMaxId = async (): Promise<number> =>
        (await replica.query<{ max: number }>(`SELECT coalesce(max(id), 0) AS max FROM "${blog.schema}".posts`))
          .rows[0]!.max;
      const { keys } = blog.app.get(ListChunks);
      const primaryMaxId = (await blog.db.query<{ max: number }>('SELECT max(id) AS max FROM posts')).rows[0]!.max;
      await waitFor(async () => (await replicaMaxId().catch(() => 0)) === primaryMaxId, 30_000);

      let before = await list();
      const cold = await blog.http().get('/posts').expect(200);
      expect(cold.headers['x-cache']).toBe('MISS');
      expect(cold.body).toEqual((await blog.db.query(POSTS_AS_JSON)).rows);
      await blog.http().get('/posts?limit=10&after=600').expect(200);
      let after = await list();
      // The list's end, its 5 chunks and the page: from the replica, caught up.
      expect(after.listReadsFromReplica - before.listReadsFromReplica).toBe(7);

      await replica.query('SELECT pg_wal_replay_pause()');
      await waitFor(
        async () =>
          (await replica.query("SELECT pg_get_wal_replay_pause_state() = 'paused' AS p")).rows[0].p as boolean,
      );
      await blog.http().put('/posts/601').send({ title: 'Written on the primary' }).expect(200);
      const created = await blog.http().post('/posts').send({ title: 'New', content: 'x', author: 'a' }).expect(201);
      expect(await replicaMaxId()).toBe(primaryMaxId);
      before = await list();
      const read = await blog.http().get('/posts').expect(200);
      expect(read.headers['x-cache']).toBe('PARTIAL');
      expect(read.body).toEqual((await blog.db.query(POSTS_AS_JSON)).rows);
      const posts = read.body as { id: number; title: string }[];
      expect(posts.find((post) => post.id === 601)?.title).toBe('Written on the primary');
      expect(posts.at(-1)?.id).toBe(created.body.id);
      const page = await blog.http().get('/posts?limit=10&after=600').expect(200);
      expect(page.body[0]).toMatchObject({ id: 601, title: 'Written on the primary' });
      after = await list();
      expect(after.listReplicaRefused).toBeGreaterThan(before.listReplicaRefused);
      expect(after.listReadsFromReplica).toBe(before.listReadsFromReplica);
      const segment = await inflateSegment((await blog.redis.getBuffer(keys.chunk(1)))!);
      const chunk = JSON.parse(`[${segment.toString()}]`) as { id: number; title: string }[];
      expect(chunk.find((post) => post.id === 601)).toMatchObject({ title: 'Written on the primary' });
    } finally {
      await replica.query('SELECT pg_wal_replay_resume()');
      await replica.end();
      await blog.close();
    }
  }, 120_000);
});
