// The public API of @app/cache-core: what apps, domains and tests use. The parts behind RecordCache, the Redis
// connections and scripts stay inside the lib.

// The strategy contract, and the modules that bind one pattern each.
export {
  type PatternName,
  type CacheableRecord,
  type CacheOutcome,
  type CacheRead,
  type PatternStatsExtras,
  CacheStrategy,
  xCache,
  cacheStatus,
  readHeaders,
  type StaleReason,
} from './cache-strategy';
export { CACHE_TOPOLOGY, type CacheTopology } from './cache-topology';
export { RecordStore } from './record-store';
export { CacheCoreModule } from './cache-core.module';
export { CacheAsideModule } from './strategies/cache-aside.module';
export { ReadThroughModule, type RecordLoaderProvider } from './strategies/read-through.module';
export { RECORD_LOADER, type RecordLoader } from './strategies/read-through.strategy';
export { WriteThroughModule } from './strategies/write-through.module';
export { NoCacheModule } from './strategies/no-cache.module';
export { RefreshAheadModule } from './strategies/refresh-ahead/refresh-ahead.module';
export type { RefreshAheadStrategy } from './strategies/refresh-ahead/refresh-ahead.strategy';
export { WriteBehindModule } from './strategies/write-behind/write-behind.module';
export { type DeletedRecord, WriteBehindStore } from './strategies/write-behind/write-behind-store';
export { WRITE_BEHIND_QUEUE } from './strategies/write-behind/write-behind.queue';
export { ChangeLog } from './strategies/write-behind/change-log';
export type { DeadLetter } from './strategies/write-behind/dead-letters';

// Caches a domain builds on.
export { type CacheLookup, RecordCache } from './records/record-cache';
export { ReplicaLoads } from './records/replica-loads';
export { OwedInvalidations } from './records/owed-invalidations';
export { type Dependency, GenerationCache } from './redis/generation-cache';
export { CacheKeys, type ListKeys } from './redis/cache-keys';
export { NearCache } from './near/near-cache';
export { SingleFlight } from './single-flight';
export { FailingLoads } from './failing-loads';

// The invalidation outbox.
export { type CommittedChange, InvalidationTarget } from './outbox/committed-change';
export { installInvalidationOutbox, dropInvalidationOutbox } from './outbox/outbox-schema';
export { InvalidationOutbox } from './outbox/invalidation-outbox';
export { ChangeConfirmations } from './outbox/change-confirmations';
export { ReadGate } from './outbox/read-gate';

// Health, stats and metrics.
export { type CacheHealthReport, CacheHealth } from './cache-health';
export { RedisMemory, type RedisMemoryState } from './redis/redis-memory';
export { CacheStats, type CacheStatsSnapshot } from './stats/cache-stats';
export { cacheMetrics, type CacheMetricsSnapshot, type ReplicaLoadsSnapshot, sample } from './stats/cache-metrics';
export { StatsBoard } from './redis/stats-board';
