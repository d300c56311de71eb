import { type AppConfig, AppIdentity, loadAppConfig } from '@app/common';
import { createApp } from '@app/shell';
import type { INestApplication } from '@nestjs/common';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import request from 'supertest';
import { BLOG } from '../../apps/blog/src/app.module';
import { deleteKeys, directRedis } from './redis-client';
import { type AdapterName, uniqueName } from './test-app';

/** The blog app on a private schema and key prefix, listening on a free port, plus direct clients. */
export interface BlogTestApp {
  app: INestApplication;
  config: AppConfig;
  schema: string;
  prefix: string;
  url: string;
  redis: Redis;
  db: Client;
  http(): ReturnType<typeof request>;
  close(): Promise<void>;
}

/** Every post as the API writes it, by id, straight from Postgres. */
export const POSTS_AS_JSON = `SELECT id, title, content, author,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "updatedAt"
  FROM posts ORDER BY id`;

export async function startBlogTestApp(
  options: {
    adapter?: AdapterName;
    env?: Record<string, string>;
    /** False for another instance of a blog already started: its close leaves the shared schema and keys alone. */
    cleanUp?: boolean;
    /** Where the assertion client connects when the app's Redis URL goes through a proxy the test cuts. */
    directRedisUrl?: string;
    /** The same for Postgres, when the app's `DATABASE_URL` goes through a proxy. */
    directDatabaseUrl?: string;
  } = {},
): Promise<BlogTestApp> {
  const name = uniqueName('blog');
  const config = loadAppConfig({
    ...process.env,
    DATABASE_SCHEMA: name,
    REDIS_KEY_PREFIX: `${name}:`,
    HTTP_ADAPTER: options.adapter ?? 'express',
    LOG_LEVEL: 'error',
    BLOG_SEED_POSTS: '2500',
    BLOG_CHUNK_SIZE: '500',
    BLOG_WARM_ON_START: 'false',
    ADMIN_OPEN: 'true',
    ...options.env,
    ...(options.env?.REDIS_URL === undefined ? {} : { REDIS_CLUSTER_NODES: '' }),
  });
  const { schema, keyPrefix } = new AppIdentity(BLOG.name, config);
  const app = await createApp(BLOG, config);
  await app.listen(0, '127.0.0.1');
  const address = (app.getHttpServer() as Server).address() as AddressInfo;
  const redis = directRedis(
    options.directRedisUrl ?? config.REDIS_URL,
    options.directRedisUrl === undefined && config.REDIS_CLUSTER_NODES !== undefined,
  );
  const db = new Client({
    connectionString: options.directDatabaseUrl ?? config.DATABASE_URL,
    options: `-c search_path=${schema}`,
  });
  await db.connect();
  return {
    app,
    config,
    schema,
    prefix: keyPrefix,
    url: `http://127.0.0.1:${address.port}`,
    redis,
    db,
    http: () => request(app.getHttpServer()),
    close: async () => {
      await app.close();
      if (options.cleanUp !== false) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.end();
      if (options.cleanUp !== false) await deleteKeys(redis, `${keyPrefix}*`).catch(() => undefined);
      redis.disconnect();
    },
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes as sent: not decompressed. */
  body: Buffer;
}

/** A GET that keeps the body exactly as the server sent it (supertest would gunzip it). */
export function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(parts) }),
      );
      response.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Starts a GET, reads about `bytes` of the body, then drops the connection: a client that leaves half way.
 * Resolves with how much it read.
 */
export function getAndHangUp(url: string, bytes: number, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { headers }, (response) => {
      let read = 0;
      response.on('data', (part: Buffer) => {
        read += part.length;
        if (read >= bytes) {
          outgoing.destroy();
          resolve(read);
        }
      });
      response.on('end', () => reject(new Error(`the whole body (${read} bytes) came before ${bytes}`)));
    });
    outgoing.on('error', () => undefined);
    outgoing.end();
  });
}

/** The `rel="next"` target of a `Link` header, if any. */
export function nextLink(link: string | undefined): string | undefined {
  return link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
}
