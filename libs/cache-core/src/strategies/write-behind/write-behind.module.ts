import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { CACHE_TOPOLOGY, type CacheTopology } from '../../cache-topology';
import { CacheKeys } from '../../redis/cache-keys';
import { QueueConnection, QueueConnectionModule } from '../../redis/queue-connection';
import { STRATEGY_EXPORTS, strategyProviders } from '../strategy-providers';
import { CacheHealth } from '../../cache-health';
import { AcceptedChangeFeed } from './accepted-change-feed';
import { ChangeLog } from './change-log';
import { ChangeLogAudit } from './change-log-audit';
import { DeadLetters } from './dead-letters';
import { FlushProcessor } from './flush.processor';
import { FlushTrigger } from './flush-trigger';
import { IdempotencyRecords } from './idempotency-records';
import { WriteBehindController } from './write-behind.controller';
import { WriteAdmission } from './write-admission';
import { WRITE_BEHIND_QUEUE } from './write-behind.queue';
import { WriteBehindFlusher } from './write-behind-flusher';
import { WriteBehindStrategy } from './write-behind.strategy';

/**
 * Accepting a change checks its unique value against every record, so all keys share one slot; and Redis has
 * changes Postgres has not, so what the outbox brings (flushes) is never newer than the cache.
 */
const WRITE_BEHIND_TOPOLOGY: CacheTopology = { keysInOneSlot: true, cacheLeadsDatabase: true };

/**
 * Binds {@link WriteBehindStrategy} as the app's `CacheStrategy`, with what it owns: the change log and idempotency records in Redis, the flusher, the BullMQ
 * worker and queue, `/flush` and `/dead-letters`, and the feed of accepted changes for near caches. BullMQ gets
 * its own Redis connections (see `QueueConnection`), under the app's key prefix so apps and tests never share a
 * queue.
 */
@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      imports: [QueueConnectionModule],
      inject: [QueueConnection, CacheKeys],
      useFactory: (queue: QueueConnection, keys: CacheKeys) => ({
        prefix: keys.queuePrefix,
        connection: queue.options,
      }),
    }),
    BullModule.registerQueue({ name: WRITE_BEHIND_QUEUE }),
  ],
  controllers: [WriteBehindController],
  providers: [
    ...strategyProviders(WriteBehindStrategy),
    FlushTrigger,
    WriteBehindFlusher,
    FlushProcessor,
    AcceptedChangeFeed,
    WriteAdmission,
    ChangeLogAudit,
    { provide: CacheHealth, useExisting: ChangeLogAudit },
    ChangeLog,
    DeadLetters,
    IdempotencyRecords,
    { provide: CACHE_TOPOLOGY, useValue: WRITE_BEHIND_TOPOLOGY },
  ],
  exports: [...STRATEGY_EXPORTS, CACHE_TOPOLOGY, CacheHealth],
})
export class WriteBehindModule {}
