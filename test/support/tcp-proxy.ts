import { TcpProxy } from '../../scripts/lib/tcp-proxy.mjs';

export { TcpProxy };

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
