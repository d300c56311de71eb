// Starting a server (a built app, or a bench reference server) in its own process, waiting until it answers,
// and stopping it: the one copy of this that the bench and the scripts share.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..', '..');

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** `/health` says ok: Postgres and Redis both answer (200 `degraded` means serving without Redis). */
export const healthy = (status, body) => status === 200 && body?.status === 'ok';

/** The shared Postgres the bench and the scripts put their own schemas in. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';

/**
 * The environment of a built app of the bench's or a script's own: on 127.0.0.1, its own schema of the shared
 * Postgres and its own key prefix, on the single Redis at `redisPort` (a private one, or a proxy in front of it).
 */
export function isolatedEnv(schema, redisPort, env = {}) {
  return {
    HOST: '127.0.0.1',
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    REDIS_CLUSTER_NODES: '',
    REDIS_KEY_PREFIX: `${schema}:`,
    NO_COLOR: '1',
    ...env,
  };
}

/** `nest build`, with its output on this terminal; throws when it fails. */
export function build() {
  const nest = join(root, 'node_modules/@nestjs/cli/bin/nest.js');
  if (spawnSync(process.execPath, [nest, 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) {
    throw new Error('build failed');
  }
}

/**
 * The V8 flags an app runs with wherever this project starts it (`npm start`, the bench, the Docker image): a
 * young generation of 64 MB semi-spaces instead of Node's 16 MB. A cache hit allocates ~29 kB that dies within
 * the request; at tens of thousands of requests a second the default young generation is scavenged every few
 * milliseconds, and each scavenge copies every request still in flight. Four times fewer scavenges, for up to
 * ~100 MB more memory under load. The blog has {@link BLOG_FLAGS} instead.
 */
export const THROUGHPUT_FLAGS = ['--max-semi-space-size=64'];

/**
 * The blog's flags: its peak RSS is budgeted (< 300 MB). `--enable-source-maps` (which every server is started
 * with) is turned off again: it keeps the parsed source map of every module loaded for the life of the process,
 * 15-50 MB of the blog's peak in demo runs. And 8 MB semi-spaces, half Node's default: a full-list response drops
 * buffers read from Redis and from its sockets, freed by the scavenge after them, which a smaller young generation
 * runs sooner. Not smaller: with 1 MB semi-spaces the buffers of a cold list's builds (half a gigabyte read from
 * Postgres) outlived two scavenges and were promoted, and V8 ran 51 full collections during one cold list (about
 * 3 s of CPU on its marking threads; cold list 5.5-6.9 s against 3.8-4.8 s with 8 MB, peak 208 MB).
 */
export const BLOG_FLAGS = ['--no-enable-source-maps', '--max-semi-space-size=8'];

/** The flags `app` runs with: {@link BLOG_FLAGS} for the blog, {@link THROUGHPUT_FLAGS} for the others. */
export function nodeFlagsFor(app) {
  return app === 'blog' ? BLOG_FLAGS : THROUGHPUT_FLAGS;
}

/** The entry point of a built app (`npm run build` makes it). */
export function builtApp(app) {
  const main = join(root, 'dist', 'apps', app, 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first`);
  return main;
}

/** A server in a child process. Its output is kept (`output()`), or shown as it comes with `inherit`. */
export class ServerProcess {
  /**
   * @param {string} script a path to run with this Node, absolute or from the repository root
   * @param {{ port: number, env?: Record<string, string>, inherit?: boolean, nodeFlags?: string[] }} options
   */
  constructor(script, { port, env = {}, inherit = false, nodeFlags = [] }) {
    this.port = port;
    this.text = '';
    this.child = spawn(process.execPath, ['--enable-source-maps', ...nodeFlags, resolve(root, script)], {
      cwd: root,
      env: { ...process.env, PORT: String(port), ...env },
      stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk) => (this.text += chunk));
    this.child.stderr?.on('data', (chunk) => (this.text += chunk));
    this.exited = new Promise((done) => this.child.once('exit', done));
    /** Set once {@link stop} is called: an exit before it was not asked for. */
    this.stopping = false;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What it printed so far (empty with `inherit`). */
  output() {
    return this.text;
  }

  /**
   * Resolves once `path` answers below 500 (or `ready(status, body)`, with the body parsed when it is JSON);
   * throws if the process exits or time runs out.
   */
  async waitFor(path = '/health', { timeoutMs = 30_000, ready = (status) => status < 500 } = {}) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`server on ${this.port} exited:\n${this.text}`);
      try {
        const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(2000) });
        const text = await response.text();
        let body = null;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        if (ready(response.status, body)) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`server on ${this.port} did not answer ${path} within ${timeoutMs / 1000} s:\n${this.text}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000) {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await Promise.race([this.exited, sleep(graceMs)]);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
