import { connect, createServer } from 'node:net';
import { freePort } from './free-port.mjs';

/**
 * What a proxy holds delayed chunks with: absolute, fractional milliseconds, and a call back at (or soon after) a
 * time. `wakeAt` may be asked again for the same callback before it ran; it then runs once, at the earlier time.
 * `lead` (ms): what is due that soon counts as due now.
 * @typedef {{ now(): number, wakeAt(at: number, run: () => void): void, lead?: number }} Clock
 */

/** `setTimeout`: whole milliseconds, often one late; enough for the faults (hundreds of ms). */
export const TIMEOUT_CLOCK = {
  now: () => performance.timeOrigin + performance.now(),
  /**
   * @param {number} at
   * @param {() => void} run
   */
  wakeAt(at, run) {
    setTimeout(run, Math.max(0, at - this.now()));
  },
};

/**
 * A TCP proxy in front of a real server that a test, the audit or a bench can cut, stall, slow and restore, to
 * make Postgres or Redis unreachable, hung or far away for one app without touching the shared server.
 * - `disconnect()` destroys open connections and refuses new ones (a refused or reset connection);
 * - `stall()` keeps connections open and forwards nothing (a hung peer, a lost network path);
 * - `delay(ms)` holds every chunk `ms` in each direction, in order (a round trip of `2 * ms` added);
 * - `restore()` ends a cut or a stall (what a stall held is sent on); `delay(0)` ends the delay.
 */
export class TcpProxy {
  /** @type {Set<import('node:net').Socket>} */
  #sockets = new Set();
  #cut = false;
  #stalled = false;
  #delayMs = 0;
  /** @type {Set<() => void>} */
  #resumers = new Set();
  /** @type {import('node:net').Server | undefined} */
  #server;
  /** @type {Clock} */
  #clock;
  /** @type {((chunk: Buffer) => void) | undefined} */
  #watcher;

  /**
   * @param {number} port
   * @param {string} targetHost
   * @param {number} targetPort
   * @param {Clock} [clock] what holds delayed chunks: {@link TIMEOUT_CLOCK} (whole milliseconds) unless given
   */
  constructor(port, targetHost, targetPort, clock = TIMEOUT_CLOCK) {
    this.#clock = clock;
    /** The port the proxy listens on (127.0.0.1). */
    this.port = port;
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  /**
   * A proxy on a free port in front of `targetHost:targetPort`, listening.
   * @param {string} targetHost
   * @param {number} targetPort
   * @param {Clock} [clock]
   * @returns {Promise<TcpProxy>}
   */
  static async start(targetHost, targetPort, clock) {
    const proxy = new TcpProxy(await freePort(), targetHost, targetPort, clock);
    await proxy.#listen();
    return proxy;
  }

  /** @returns {Promise<void>} */
  #listen() {
    const server = createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        // Without it, Nagle's algorithm holds a small write while an earlier one is unacknowledged, and the
        // peer's delayed ACK makes that up to 40 ms: p99s of 30-40 ms and write-behind at a quarter of its
        // writes/s through the proxy with no delay at all. Postgres, Redis and their clients all set it.
        socket.setNoDelay(true);
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      this.#forward(client, upstream, true);
      this.#forward(upstream, client, false);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.#server = server;
    return new Promise((done) => server.listen(this.port, '127.0.0.1', () => done()));
  }

  /**
   * Sends what `from` receives on to `to`: at once, or `#delayMs` later (never before an earlier chunk), or, while
   * stalled, once restored.
   * @param {import('node:net').Socket} from
   * @param {import('node:net').Socket} to
   * @param {boolean} fromClient
   */
  #forward(from, to, fromClient) {
    /** @type {{ chunk: Buffer, due: number }[]} */
    const queue = [];
    let lastDue = 0;
    let closed = false;
    const pump = () => {
      if (closed) return;
      while (queue.length > 0 && !this.#stalled) {
        const due = queue[0].due;
        if (due > this.#clock.now() + (this.#clock.lead ?? 0)) {
          this.#clock.wakeAt(due, pump);
          return;
        }
        if (!to.destroyed) to.write(queue.shift().chunk);
        else queue.shift();
      }
    };
    this.#resumers.add(pump);
    from.on('close', () => {
      this.#resumers.delete(pump);
      closed = true;
    });
    from.on('data', (chunk) => {
      if (fromClient) this.#watcher?.(chunk);
      if (this.#delayMs === 0 && !this.#stalled && queue.length === 0) {
        to.write(chunk);
        return;
      }
      lastDue = Math.max(lastDue, this.#clock.now() + this.#delayMs);
      queue.push({ chunk, due: lastDue });
      // Through the clock even when due at once, so that a clock with a lead (PreciseClock) sees every deadline.
      if (queue.length === 1) this.#clock.wakeAt(lastDue, pump);
    });
  }

  /**
   * Holds every chunk `ms` in each direction (0: none); chunks keep their order.
   * @param {number} ms
   */
  delay(ms) {
    this.#delayMs = ms;
  }

  /**
   * Calls `listener` with every chunk a client sends, as the proxy receives it, held or not (undefined: no more):
   * what a client wrote, even while nothing reaches the server.
   * @param {((chunk: Buffer) => void) | undefined} listener
   */
  watch(listener) {
    this.#watcher = listener;
  }

  /** Keeps connections open and forwards nothing until {@link restore}: a hung peer. */
  stall() {
    this.#stalled = true;
  }

  /** Destroys every open connection and refuses new ones. */
  disconnect() {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Lets connections through again, and sends on what a stall held. */
  restore() {
    this.#cut = false;
    this.#stalled = false;
    for (const resume of this.#resumers) resume();
  }

  /** @returns {Promise<void>} */
  async close() {
    this.disconnect();
    await new Promise((done) => (this.#server ? this.#server.close(() => done(undefined)) : done(undefined)));
  }
}

/**
 * A proxy in front of the server at `direct` (a postgres:// or redis:// URL), and the same URL through it.
 * @param {string} direct
 * @param {number} defaultPort the port when `direct` names none (5432, 6379)
 * @param {Clock} [clock]
 * @returns {Promise<{ proxy: TcpProxy, url: string }>}
 */
export async function proxyInFront(direct, defaultPort, clock) {
  const target = new URL(direct);
  const proxy = await TcpProxy.start(
    target.hostname === 'localhost' ? '127.0.0.1' : target.hostname,
    Number(target.port || defaultPort),
    clock,
  );
  const url = new URL(direct);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}
