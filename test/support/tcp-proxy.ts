export { proxyInFront, TcpProxy } from '../../scripts/lib/tcp-proxy.mjs';

export const DIRECT_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns';
export const DIRECT_REDIS_URL = process.env.REDIS_URL ?? 'redis://localhost:6379';
