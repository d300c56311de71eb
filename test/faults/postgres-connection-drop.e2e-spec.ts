import { Pool } from 'pg';
import { cancellableQuery } from '../../libs/common/src/database/cancellable-query';
import { AppProcess } from '../support/app-process';
import { DIRECT_DATABASE_URL, DIRECT_REDIS_URL, proxyInFront, type TcpProxy } from '../support/tcp-proxy';
import { newUser } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * Postgres's connections reset while a statement runs on a client the app checked out for its own use (a load it
 * can cancel, a COPY of the blog's list). pg reports the dead socket as an `error` event on the client, and a
 * checked-out client has no pool listening: unless the app listens, the process ends. Each app runs as a process
 * of its own (a crash is seen as one), its Postgres behind a proxy the test stalls, then cuts.
 */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('a client checked out for a cancellable statement, its connection cut', () => {
  it('fails the statement and nothing else: no error event goes unheard', async () => {
    const { proxy, url } = await proxyInFront(DIRECT_DATABASE_URL, 5432);
    const pool = new Pool({ connectionString: url, max: 2 });
    pool.on('error', () => undefined);
    const unheard: unknown[] = [];
    const onUncaught = (error: unknown): void => void unheard.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const sleeping = cancellableQuery(pool, 'SELECT pg_sleep(5)', [], new AbortController().signal);
      await sleep(300);
      proxy.disconnect();
      await expect(sleeping).rejects.toThrow(/terminated|ECONNRESET/);
      await sleep(200);
      expect(unheard).toEqual([]);
      proxy.restore();
      await expect(pool.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    } finally {
      process.off('uncaughtException', onUncaught);
      await pool.end();
      await proxy.close();
    }
  });
});

describe('a Postgres connection reset while a statement runs', () => {
  let proxy: TcpProxy;
  let databaseUrl: string;
  let app: AppProcess | undefined;

  beforeEach(async () => {
    ({ proxy, url: databaseUrl } = await proxyInFront(DIRECT_DATABASE_URL, 5432));
  });
  afterEach(async () => {
    proxy.restore();
    await app?.cleanUp();
    app = undefined;
    await proxy.close();
  });

  async function start(name: string, env: Record<string, string>): Promise<AppProcess> {
    const started = await AppProcess.start(name, {
      ...env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: DIRECT_REDIS_URL,
      LOG_LEVEL: 'error',
    });
    await waitFor(() => started.healthy(), 60_000);
    return started;
  }

  /** Stalls Postgres, sends `request`, resets every connection once the statement is under way, restores. */
  async function resetDuring<T>(request: () => Promise<T>): Promise<T> {
    proxy.stall();
    const answer = request();
    await sleep(300);
    proxy.disconnect();
    await sleep(100);
    proxy.restore();
    return answer;
  }

  it('cache-aside: a load in flight answers 503, and the app lives on', async () => {
    app = await start('cache-aside', { CACHE_LOAD_TIMEOUT_MS: '5000' });
    const create = (): Promise<{ status: number; body: unknown } | null> =>
      app!.fetch('/users', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(newUser()),
      });
    // A load first, so the pool holds a connection the next load takes at once (none is opened under the stall).
    const first = await create();
    expect((await app.fetch(`/users/${(first!.body as { id: number }).id}`))?.status).toBe(200);
    const created = await create();
    expect(created?.status).toBe(201);
    const id = (created!.body as { id: number }).id;
    const read = await resetDuring(() => app!.fetch(`/users/${id}`));
    expect(read?.status).toBe(503);
    await waitFor(() => app!.healthy(), 10_000);
    expect(app.child.exitCode).toBeNull();
    expect((await app.fetch(`/users/${id}`))?.status).toBe(200);
  });

  it('blog: a chunk being copied fails the list with 503, and the app lives on', async () => {
    app = await start('blog', { BLOG_SEED_POSTS: '3000', BLOG_WARM_ON_START: 'false', ADMIN_OPEN: 'true' });
    const list = await resetDuring(() => app!.fetch('/posts'));
    expect(list?.status).toBe(503);
    await waitFor(() => app!.healthy(), 10_000);
    expect(app.child.exitCode).toBeNull();
    expect((await app.fetch('/posts'))?.status).toBe(200);
  });
});
