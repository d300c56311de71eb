import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './free-port';
import { DIRECT_DATABASE_URL } from './tcp-proxy';
import { uniqueName } from './test-app';

/** A built app (`dist/apps/<app>/src/main.js`) in its own process, on a private schema and key prefix. */
export class AppProcess {
  private output = '';
  private exited?: Promise<string>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly schema: string,
  ) {
    for (const stream of [child.stdout, child.stderr])
      stream?.on('data', (data: Buffer) => (this.output += data.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(String(signal ?? code))));
  }

  static async start(app: string, env: Record<string, string>): Promise<AppProcess> {
    const main = join(process.cwd(), 'dist', 'apps', app, 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm run test:e2e does)`);
    const port = await freePort();
    const schema = uniqueName(app);
    const child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_SCHEMA: schema,
        REDIS_KEY_PREFIX: `${schema}:`,
        NO_COLOR: '1',
        ...env,
        ...(env.REDIS_URL === undefined ? {} : { REDIS_CLUSTER_NODES: '' }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AppProcess(child, port, schema);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Everything the process printed so far. */
  get logs(): string {
    return this.output;
  }

  /** A request that gives up after 2 s; null when nothing answered. */
  async fetch(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown } | null> {
    try {
      const response = await fetch(`${this.url}${path}`, { ...init, signal: AbortSignal.timeout(2000) });
      const text = await response.text();
      return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
    } catch {
      return null;
    }
  }

  /** `/health` says ok: Postgres and Redis both answer (a 200 `degraded` serves without Redis). */
  async healthy(): Promise<boolean> {
    const health = await this.fetch('/health');
    return health?.status === 200 && (health.body as { status?: string } | null)?.status === 'ok';
  }

  /**
   * Sends `signal` and resolves with how it ended (exit code or signal) and how long that took; `running` if it
   * had not ended within `waitMs` (then `cleanUp` kills it).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', waitMs = 60_000): Promise<{ ended: string; ms: number }> {
    const started = Date.now();
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.exited!,
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('running'), waitMs))),
    ]);
    clearTimeout(timer);
    return { ended, ms: Date.now() - started };
  }

  /** Kills the process if it still runs and drops its schema. */
  async cleanUp(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    const db = new Client({ connectionString: DIRECT_DATABASE_URL });
    await db.connect();
    await db.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    await db.end();
  }
}
