import {
  ChangeLog,
  FlushProcessor,
  FlushTrigger,
  IdempotencyRecords,
  WRITE_BEHIND_OPTIONS,
  WRITE_BEHIND_QUEUE,
  WriteBehindFlusher,
  type WriteBehindOptions,
} from '@app/cache-core';
import { AppConfig } from '@app/common';
import { BullModule } from '@nestjs/bullmq';
import type { DynamicModule, Provider } from '@nestjs/common';

/** What the write-behind strategy needs besides the shared cache core, configured from the environment. */
export const WRITE_BEHIND_PROVIDERS: Provider[] = [
  {
    provide: WRITE_BEHIND_OPTIONS,
    inject: [AppConfig],
    useFactory: (config: AppConfig): WriteBehindOptions => ({
      role: config.WRITE_BEHIND_ROLE,
      batchSize: config.WRITE_BEHIND_BATCH_SIZE,
      batchDelayMs: config.WRITE_BEHIND_BATCH_DELAY_MS,
      flushIntervalMs: config.WRITE_BEHIND_FLUSH_INTERVAL_MS,
      maxAttempts: config.WRITE_BEHIND_MAX_ATTEMPTS,
      backoffMs: config.WRITE_BEHIND_BACKOFF_MS,
      claimTimeoutMs: config.WRITE_BEHIND_CLAIM_TIMEOUT_MS,
    }),
  },
  ChangeLog,
  FlushTrigger,
  IdempotencyRecords,
  WriteBehindFlusher,
  FlushProcessor,
];

/**
 * The BullMQ queue, on its own Redis connections (BullMQ's blocking worker connection must not share the
 * cache's fail-fast client), under the app's key prefix so apps and tests never share a queue.
 */
export function writeBehindQueueModules(config: AppConfig, keyPrefix: string): DynamicModule[] {
  const url = new URL(config.REDIS_URL);
  return [
    BullModule.forRoot({
      prefix: `${keyPrefix}bull`,
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
    }),
    BullModule.registerQueue({ name: WRITE_BEHIND_QUEUE }),
  ];
}
