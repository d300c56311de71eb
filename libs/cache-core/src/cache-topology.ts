/**
 * What a strategy module tells the Redis layer about its cache, provided under {@link CACHE_TOPOLOGY}. Every
 * pattern but write-behind uses {@link SPREAD_TOPOLOGY}, the default when nothing is provided.
 */
export interface CacheTopology {
  /**
   * Every key of the app shares one Redis Cluster hash slot (`CacheKeys` tags them alike), so one script may
   * touch several records: write-behind's accept checks a unique value against every record. Otherwise each
   * record's keys share a slot of their own, and records spread over the cluster.
   */
  readonly keysInOneSlot: boolean;
  /**
   * The cache holds changes Postgres does not have yet (write-behind): Postgres is never newer than the cache,
   * so changes announced by the invalidation outbox never hold its reads.
   */
  readonly cacheLeadsDatabase: boolean;
}

/** The injection token of the app's {@link CacheTopology}. */
export const CACHE_TOPOLOGY = Symbol('CACHE_TOPOLOGY');

/** Records spread over the cluster, and Postgres is the source of truth: every pattern but write-behind. */
export const SPREAD_TOPOLOGY: CacheTopology = { keysInOneSlot: false, cacheLeadsDatabase: false };
