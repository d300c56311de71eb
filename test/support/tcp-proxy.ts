import { createServer, type Server, type Socket, connect } from 'node:net';
import { freePort } from './free-port';

/**
 * A TCP proxy in front of a real server that a test can cut and restore, to make Postgres or Redis
 * unreachable for one app without stopping the shared server. Cutting destroys open connections and
 * refuses new ones until restored.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private server?: Server;

  private constructor(
    readonly port: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), targetHost, targetPort);
    await proxy.listen();
    return proxy;
  }

  private listen(): Promise<void> {
    this.server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  disconnect(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.disconnect();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

export const DIRECT_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';
export const DIRECT_REDIS_URL = process.env.REDIS_URL ?? 'redis://localhost:6379';

/** A proxy in front of the server at `direct` (a postgres:// or redis:// URL), and the same URL through it. */
export async function proxyInFront(direct: string, defaultPort: number): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(direct);
  const proxy = await TcpProxy.start(
    target.hostname === 'localhost' ? '127.0.0.1' : target.hostname,
    Number(target.port || defaultPort),
  );
  const url = new URL(direct);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}
