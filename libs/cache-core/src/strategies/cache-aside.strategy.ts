import { Injectable } from '@nestjs/common';
import type { CacheableRecord } from '../cache-strategy';
import { RecordStore } from '../record-store';
import { RecordCache } from '../records/record-cache';
import { CacheStats } from '../stats/cache-stats';
import { BaseRecordStrategy } from './base-record.strategy';

/**
 * Cache-aside (lazy loading): the application looks in Redis, loads from Postgres on a miss and stores what it
 * loaded; writes go to Postgres and then invalidate. Consistency: after a write is acknowledged every read
 * sees it (a lease drops fills that raced the write; a failed invalidation is replayed before the record is
 * read from Redis again). Cost: the first read after every write is a miss.
 */
@Injectable()
export class CacheAsideStrategy<T extends CacheableRecord, C, U> extends BaseRecordStrategy<T, C, U> {
  readonly pattern = 'cache-aside' as const;

  constructor(cache: RecordCache, store: RecordStore<T, C, U>, stats: CacheStats) {
    super(cache, store, stats);
  }
}
