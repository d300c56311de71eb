import { Global, Module } from '@nestjs/common';
import { AppIdentity, RefreshAheadConfig } from '@app/common';
import { NearCache } from './near/near-cache';
import { ChangeConfirmations } from './outbox/change-confirmations';
import { InvalidationOutbox } from './outbox/invalidation-outbox';
import { ReadGate } from './outbox/read-gate';
import { RecordStore } from './record-store';
import { CacheKeys, ONE_SLOT } from './redis/cache-keys';
import { ChangeLog } from './redis/change-log';
import { GenerationCache } from './redis/generation-cache';
import { HotSet } from './redis/hot-set';
import { IdempotencyRecords } from './redis/idempotency-records';
import { RecordCache } from './redis/record-cache';
import { RedisConnections } from './redis/redis-connections';
import { RedisLock } from './redis/redis-lock';
import { RedisMemory } from './redis/redis-memory';
import { StatsBoard } from './redis/stats-board';
import { CacheStats } from './stats/cache-stats';

/**
 * The one Redis layer of an app, and its stats: the connections, every key (`CacheKeys`) and every script, and
 * the stores built on them. The connections themselves stay inside this module. Global, so strategy modules and domains inject them by type. It needs the app's
 * {@link RecordStore} (for the entity name in keys), which the domain's store module provides globally.
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
      inject: [AppIdentity, RecordStore, RefreshAheadConfig, { token: ONE_SLOT, optional: true }],
      useFactory: (identity: AppIdentity, store: RecordStore, refreshAhead: RefreshAheadConfig, oneSlot?: boolean) =>
        new CacheKeys(identity.keyPrefix, store.entityName, { oneSlot, hotShards: refreshAhead.hotShards }),
    },
    RecordCache,
    RedisLock,
    ChangeLog,
    IdempotencyRecords,
    HotSet,
    GenerationCache,
    StatsBoard,
  ],
  exports: [
    CacheStats,
    RedisMemory,
    NearCache,
    ReadGate,
    InvalidationOutbox,
    CacheKeys,
    RecordCache,
    RedisLock,
    ChangeLog,
    IdempotencyRecords,
    HotSet,
    GenerationCache,
    StatsBoard,
  ],
})
export class CacheCoreModule {}
