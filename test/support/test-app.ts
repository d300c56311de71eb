import { CacheKeys, type CacheStatsSnapshot } from '@app/cache-core';
import { type AppConfig, AppIdentity, loadAppConfig } from '@app/common';
import { createApp, type PatternAppDefinition } from '@app/shell';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { deleteKeys, directRedis } from './redis-client';
import { Client } from 'pg';
import request from 'supertest';

export const ADAPTERS = ['express', 'fastify'] as const;
export type AdapterName = (typeof ADAPTERS)[number];

export interface TestAppOptions {
  adapter?: AdapterName;
  /** Environment on top of the process's own (e.g. REDIS_URL of a private redis-server). */
  env?: Record<string, string>;
  /** False for another instance of an app already started: its close leaves the shared schema and keys alone. */
  cleanUp?: boolean;
  /** Where the assertion clients connect when the app's URLs go through a proxy the test cuts. */
  direct?: { databaseUrl?: string; redisUrl?: string };
}

/** `GET /stats`: the shared counters, plus whatever the pattern adds. */
export interface StatsBody extends CacheStatsSnapshot {
  pattern: string;
  [extra: string]: unknown;
}

/** A real pattern app on a private schema and key prefix, plus direct clients to assert on what it stored. */
export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  schema: string;
  prefix: string;
  /** Talks to the same Redis as the app, for assertions. */
  redis: Redis;
  /** Talks to the same database, with the app's schema on the search path. */
  db: Client;
  http(): ReturnType<typeof request>;
  stats(): Promise<StatsBody>;
  close(): Promise<void>;
}

export function uniqueName(label: string): string {
  return `t_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
}

/** Boots the app module exactly as `main.ts` does (same `createApp`), without listening on a port. */
export async function startTestApp(definition: PatternAppDefinition, options: TestAppOptions = {}): Promise<TestApp> {
  const name = uniqueName(definition.pattern);
  const config = loadAppConfig({
    ...process.env,
    DATABASE_SCHEMA: name,
    REDIS_KEY_PREFIX: `${name}:`,
    HTTP_ADAPTER: options.adapter ?? 'express',
    LOG_LEVEL: 'error',
    ADMIN_OPEN: 'true',
    ...options.env,
    ...(options.env?.REDIS_URL === undefined ? {} : { REDIS_CLUSTER_NODES: '' }),
  });
  const { schema, keyPrefix } = new AppIdentity(definition.name, config);
  const app = await createApp(definition, config);
  await app.init();
  if (config.HTTP_ADAPTER === 'fastify') {
    await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  }
  const redis = directRedis(
    options.direct?.redisUrl ?? config.REDIS_URL,
    options.direct?.redisUrl === undefined && config.REDIS_CLUSTER_NODES !== undefined,
  );
  const db = new Client({
    connectionString: options.direct?.databaseUrl ?? config.DATABASE_URL,
    options: `-c search_path=${schema}`,
  });
  await db.connect();
  const http = (): ReturnType<typeof request> => request(app.getHttpServer());
  return {
    app,
    config,
    schema,
    prefix: keyPrefix,
    redis,
    db,
    http,
    stats: async () => (await http().get('/stats').expect(200)).body,
    close: async () => {
      await app.close();
      if (options.cleanUp !== false) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.end();
      if (options.cleanUp !== false) await deleteKeys(redis, `${keyPrefix}*`).catch(() => undefined);
      redis.disconnect();
    },
  };
}

export { deleteKeys } from './redis-client';

let emailSequence = 0;

/** A valid new user with an email no other test uses. */
export function newUser(overrides: Partial<{ name: string; email: string; age: number }> = {}): {
  name: string;
  email: string;
  age: number;
} {
  emailSequence += 1;
  return {
    name: 'Test User',
    email: `user-${randomBytes(4).toString('hex')}-${emailSequence}@example.test`,
    age: 30,
    ...overrides,
  };
}

/** The Redis key of a user's entry, from the app's own key builder. */
/** The id Postgres will give the next user created in this app's schema (tests in a file run one at a time). */
export async function nextUserId(testApp: TestApp): Promise<number> {
  const result = await testApp.db.query<{ next: string }>(
    'SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next FROM users_id_seq',
  );
  return Number(result.rows[0]!.next);
}

export function entryKey(testApp: TestApp, id: number): string {
  return testApp.app.get(CacheKeys).entry(id);
}
