import { Cluster, Redis } from 'ioredis';

/**
 * Where the tests' Redis is: the shared single Redis, or with `REDIS_CLUSTER_NODES` set (the CI's second e2e
 * run) a Redis Cluster. Apps started with a Redis of their own (a private `redis-server`, a proxy) use it alone.
 */
export const CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES ?? '';

/** The app's environment for a Redis of its own: its URL, and no cluster. */
export function ownRedis(url: string): Record<string, string> {
  return { REDIS_URL: url, REDIS_CLUSTER_NODES: '' };
}

/** A client for assertions: on the cluster when the app is on it, else on `url`. */
export function directRedis(url: string, onCluster: boolean): Redis {
  if (!onCluster || CLUSTER_NODES === '') return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const nodes = CLUSTER_NODES.split(',').map((node) => {
    const [host, port] = node.split(':');
    return { host: host!, port: Number(port) };
  });
  // The commands the tests use exist on both; a cluster routes each by its key.
  return new Cluster(nodes, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } }) as unknown as Redis;
}

/** Every key matching `pattern`, on every master of a cluster. */
export async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const nodes = redis instanceof Cluster ? (redis as Cluster).nodes('master') : [redis];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** Deletes every key matching `pattern` (one UNLINK per key: a cluster refuses multi-key commands across slots). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  const keys = await keysMatching(redis, pattern);
  await Promise.all(keys.map((key) => redis.unlink(key)));
}
