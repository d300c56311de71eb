import { connect, createServer } from 'node:net';
import { freePort } from './free-port.mjs';

/**
 * A TCP proxy in front of a real server that a test, the audit or a bench can cut and restore, to make Postgres
 * or Redis unreachable for one app without touching the shared server. Cutting destroys open connections and
 * refuses new ones until restored.
 */
export class TcpProxy {
  /** @type {Set<import('node:net').Socket>} */
  #sockets = new Set();
  #cut = false;
  /** @type {import('node:net').Server | undefined} */
  #server;

  /**
   * @param {number} port
   * @param {string} targetHost
   * @param {number} targetPort
   */
  constructor(port, targetHost, targetPort) {
    /** The port the proxy listens on (127.0.0.1). */
    this.port = port;
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  /**
   * A proxy on a free port in front of `targetHost:targetPort`, listening.
   * @param {string} targetHost
   * @param {number} targetPort
   * @returns {Promise<TcpProxy>}
   */
  static async start(targetHost, targetPort) {
    const proxy = new TcpProxy(await freePort(), targetHost, targetPort);
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
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.#server = server;
    return new Promise((done) => server.listen(this.port, '127.0.0.1', () => done()));
  }

  /** Destroys every open connection and refuses new ones. */
  disconnect() {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Lets connections through again. */
  restore() {
    this.#cut = false;
  }

  /** @returns {Promise<void>} */
  async close() {
    this.disconnect();
    await new Promise((done) => (this.#server ? this.#server.close(() => done(undefined)) : done(undefined)));
  }
}
