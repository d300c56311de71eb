import { Global, Module } from '@nestjs/common';
import { AppIdentity, RefreshAheadConfig } from '@app/common';
import { CACHE_TOPOLOGY, type CacheTopology, SPREAD_TOPOLOGY } from './cache-topology';
import { NearCache } from './near/near-cache';
import { ChangeConfirmations } from './outbox/change-confirmations';
import { DEFAULT_INVALIDATION_TARGET } from './outbox/committed-change';
import { InvalidationOutbox } from './outbox/invalidation-outbox';
import { ReadGate } from './outbox/read-gate';
import { RecordStore } from './record-store';
import { EntryTtls } from './records/entry-ttls';
import { InvalidationDebt } from './records/invalidation-debt';
import { LeaseGuardedReads } from './records/lease-guarded-reads';
import { RecordCache } from './records/record-cache';
import { ReplicaLoads } from './records/replica-loads';
import { RecordEntries } from './records/record-entries';
import { VersionedWrites } from './records/versioned-writes';
import { CacheKeys } from './redis/cache-keys';
import { RedisConnections } from './redis/redis-connections';
import { RedisLock } from './redis/redis-lock';
import { RedisMemory } from './redis/redis-memory';
import { StatsBoard } from './redis/stats-board';
import { CacheStats } from './stats/cache-stats';

/**
 * The Redis layer every app shares, and its stats: the connections, every key (`CacheKeys`) and script, the
 * records' cache ({@link RecordCache} and its parts), the invalidation outbox and the near cache. Global, so
 * strategy modules and domains inject them by type. A feature's own Redis stores are provided by the feature's
 * module (write-behind's `ChangeLog`, refresh-ahead's `HotSet`, the blog's `GenerationCache`); they are built
 * on `RedisConnections`, which is exported for them and is not part of the lib's public API (`index.ts`). It
 * needs the app's {@link RecordStore} (for the entity name in keys), which the domain's store module provides
 * globally, and takes the strategy module's {@link CacheTopology} when it provides one.
 */
@Global()
@Module({
  providers: [
    {
      provide: CacheStats,
      inject: [RecordStore],
      useFactory: (store: RecordStore) => new CacheStats(`${store.entityName}s`),
    },
    RedisConnections,
    RedisMemory,
    ReadGate,
    ChangeConfirmations,
    NearCache,
    InvalidationOutbox,
    {
      provide: CacheKeys,
      inject: [AppIdentity, RecordStore, RefreshAheadConfig, { token: CACHE_TOPOLOGY, optional: true }],
      useFactory: (
        identity: AppIdentity,
        store: RecordStore,
        refreshAhead: RefreshAheadConfig,
        topology: CacheTopology = SPREAD_TOPOLOGY,
      ) =>
        new CacheKeys(identity.keyPrefix, store.entityName, {
          oneSlot: topology.keysInOneSlot,
          hotShards: refreshAhead.hotShards,
        }),
    },
    EntryTtls,
    InvalidationDebt,
    LeaseGuardedReads,
    VersionedWrites,
    RecordEntries,
    ReplicaLoads,
    { provide: DEFAULT_INVALIDATION_TARGET, useExisting: RecordEntries },
    RecordCache,
    RedisLock,
    StatsBoard,
  ],
  exports: [
    CacheStats,
    RedisConnections,
    RedisMemory,
    NearCache,
    ReadGate,
    InvalidationOutbox,
    CacheKeys,
    RecordCache,
    ReplicaLoads,
    RedisLock,
    StatsBoard,
  ],
})
export class CacheCoreModule {}
