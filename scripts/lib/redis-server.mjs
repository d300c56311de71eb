import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.mjs';

const sleep = (/** @type {number} */ ms) => new Promise((done) => setTimeout(done, ms));

/**
 * A private `redis-server` from the local binary, on a free port, for whatever stops, freezes, fills or restarts
 * Redis (tests, the consistency audit, benches): the shared server on 6379 is never touched. Nothing is saved
 * unless `aof` is set, which keeps an append-only file (fsync always) in a temporary folder, so a restart keeps
 * every acknowledged write. Restartable on the same port with {@link RedisServer.launch}.
 */
export class RedisServer {
  /** @type {import('node:child_process').ChildProcess | undefined} */
  #child;
  /** @type {Promise<unknown> | undefined} */
  #exited;
  /** @type {string | undefined} */
  #dir;

  /**
   * @param {number} port
   * @param {string[]} args more `redis-server` options (e.g. `--maxmemory 4mb`)
   * @param {boolean} aof
   */
  constructor(port, args, aof) {
    this.port = port;
    this.args = args;
    this.aof = aof;
  }

  /**
   * Starts one on `port` when given (a test that first needs Redis to be absent there), else on a free one.
   * @param {number} [port]
   * @param {string[]} [args]
   * @param {{ aof?: boolean }} [options]
   * @returns {Promise<RedisServer>}
   */
  static async start(port, args = [], { aof = false } = {}) {
    const server = new RedisServer(port ?? (await freePort()), args, aof);
    await server.launch();
    return server;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the process (again) and waits until it answers PING. */
  async launch() {
    const persistence = this.aof
      ? [
          '--dir',
          (this.#dir ??= mkdtempSync(join(tmpdir(), 'redis-'))),
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
        ]
      : ['--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...this.args],
      { stdio: 'ignore' },
    );
    this.#child = child;
    this.#exited = new Promise((done) => child.once('exit', done));
    for (let tries = 0; tries < 100; tries += 1) {
      if (await this.#answers()) return;
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`redis-server did not start on ${this.port}`);
  }

  /** SIGSTOP: the socket stays open but nothing answers, the worst case for a client. */
  freeze() {
    this.#child?.kill('SIGSTOP');
  }

  thaw() {
    this.#child?.kill('SIGCONT');
  }

  /**
   * Stops the process: SIGKILL by default (a crash), or SIGTERM (Redis writes what it has and exits).
   * @param {'SIGKILL' | 'SIGTERM'} [signal]
   */
  async stop(signal = 'SIGKILL') {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill(signal);
    await this.#exited;
    this.#child = undefined;
  }

  /** Stops it and deletes its folder, if it has one. */
  async remove() {
    await this.stop();
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
  }

  /** @returns {Promise<boolean>} */
  #answers() {
    return new Promise((done) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.write('PING\r\n');
        socket.once('data', (data) => {
          socket.destroy();
          done(data.toString().startsWith('+PONG'));
        });
      });
      socket.once('error', () => done(false));
    });
  }
}
