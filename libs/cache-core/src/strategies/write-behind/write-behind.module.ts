import { CacheConfig } from '@app/common';
import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { CacheKeys } from '../../redis/cache-keys';
import { STRATEGY_EXPORTS, strategyProviders } from '../strategy-providers';
import { FlushProcessor } from './flush.processor';
import { FlushTrigger } from './flush-trigger';
import { WriteBehindController } from './write-behind.controller';
import { WRITE_BEHIND_QUEUE } from './write-behind.queue';
import { WriteBehindFlusher } from './write-behind-flusher';
import { WriteBehindStrategy } from './write-behind.strategy';

/**
 * Binds {@link WriteBehindStrategy} as the app's `CacheStrategy`, with what it owns: the flusher, the BullMQ
 * worker and queue, and `/flush` and `/dead-letters`. BullMQ gets its own Redis connections (its blocking worker
 * connection must not share the cache's fail-fast clients), under the app's key prefix so apps and tests never
 * share a queue.
 */
@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [CacheConfig, CacheKeys],
      useFactory: (cache: CacheConfig, keys: CacheKeys) => {
        const url = new URL(cache.redisUrl);
        return {
          prefix: keys.queuePrefix,
          connection: {
            host: url.hostname,
            port: Number(url.port || 6379),
            username: decodeURIComponent(url.username) || undefined,
            password: decodeURIComponent(url.password) || undefined,
            db: Number(url.pathname.slice(1) || 0),
            tls: url.protocol === 'rediss:' ? {} : undefined,
            maxRetriesPerRequest: null,
            // BullMQ's default backs off to 20 s between reconnects; a flush should resume soon after Redis does.
            retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2000),
          },
        };
      },
    }),
    BullModule.registerQueue({ name: WRITE_BEHIND_QUEUE }),
  ],
  controllers: [WriteBehindController],
  providers: [...strategyProviders(WriteBehindStrategy), FlushTrigger, WriteBehindFlusher, FlushProcessor],
  exports: STRATEGY_EXPORTS,
})
export class WriteBehindModule {}
