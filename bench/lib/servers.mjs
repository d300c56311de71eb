// The servers the bench measures: each pattern app (built), the no-cache baseline, and bare reference servers,
// each in its own process on its own schema and key prefix, and the users they read.
import pg from 'pg';
import { builtApp, healthy, nodeFlagsFor, ServerProcess, THROUGHPUT_FLAGS } from '../../scripts/lib/server-process.mjs';
import { USERS } from './load.mjs';

let nextPort = 8200;

/**
 * A built app with the bench's environment on a fresh port, answering `/health` (with `startTimeoutMs`: healthy,
 * waiting that long at most). With `profileTo`, it runs under the CPU profiler (`lib/profiled.mjs`), which writes
 * there.
 */
export async function startApp(
  app,
  adapter,
  { databaseUrl, redisUrl, schemaOf = app, env = {}, profileTo, startTimeoutMs },
) {
  const profiled = profileTo === undefined ? {} : { PROFILE_APP: builtApp(app), PROFILE_OUT: profileTo };
  const server = new ServerProcess(profileTo === undefined ? builtApp(app) : 'bench/lib/profiled.mjs', {
    port: (nextPort += 1),
    nodeFlags: nodeFlagsFor(app),
    env: {
      ...profiled,
      HOST: '127.0.0.1',
      HTTP_ADAPTER: adapter,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      DATABASE_SCHEMA: schemaName(schemaOf),
      REDIS_KEY_PREFIX: `bench:${schemaOf}:`,
      LOG_LEVEL: 'error',
      SWAGGER_ENABLED: 'false',
      ...env,
    },
  });
  server.child.once('exit', (code, signal) => {
    if (server.stopping) return;
    process.stderr.write(
      `[bench] ${app} on ${server.port} exited (${signal ?? code}):\n${server.output().slice(-4000)}\n`,
    );
  });
  await server.waitFor('/health', startTimeoutMs === undefined ? {} : { timeoutMs: startTimeoutMs, ready: healthy });
  return server;
}

/**
 * A bare reference server (`bench/reference/*.mjs`) on a fresh port, answering `probe`; with the apps' V8 flags,
 * so that a ratio compares code, not heap settings.
 */
export async function startReference(script, env, probe) {
  const server = new ServerProcess(script, { port: (nextPort += 1), env, nodeFlags: THROUGHPUT_FLAGS });
  await server.waitFor(probe);
  return server;
}

export function schemaName(app) {
  return `bench_${app.replace(/-/g, '_')}`;
}

/**
 * Makes sure `schema` has `USERS` users (the app created the table); returns their ids. Rows it inserts go
 * through the app's invalidation outbox like any other change (a trigger queues one row each), so it waits
 * until the app has applied them: otherwise the first seconds measured also pay for deleting 10,000 outbox
 * rows (the cluster's "hits only" row counted 220 Postgres q/s of them at a 1.000 hit ratio). With
 * `{ applied: false }` (no app is running to apply them) it does not wait.
 */
export async function seedUsers(databaseUrl, schema, { applied = true } = {}) {
  const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO users (name, email, age)
       SELECT 'Bench User ' || g, 'bench' || g || '@example.test', 20 + g % 50 FROM generate_series(1, $1) g
       ON CONFLICT DO NOTHING`,
      [USERS],
    );
    if (applied) await outboxApplied(client);
    return (await client.query('SELECT id FROM users ORDER BY id LIMIT $1', [USERS])).rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

/** Waits (up to 120 s) until the schema's invalidation outbox is empty, if it has one. */
async function outboxApplied(client) {
  const deadline = Date.now() + 120_000;
  if ((await client.query(`SELECT to_regclass('cache_invalidations') AS name`)).rows[0].name === null) return;
  for (;;) {
    const { rows } = await client.query('SELECT count(*)::int AS pending FROM cache_invalidations');
    if (rows[0].pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0].pending} outbox rows still unapplied after 120 s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}
