import type { DerivedMetric, WriteOptions } from '@app/common';
import { Injectable } from '@nestjs/common';
import type { CacheableRecord, PatternName, PatternStatsExtras } from '../cache-strategy';
import { RecordStore } from '../record-store';
import { RecordCache } from '../records/record-cache';
import { counter, sample } from '../stats/cache-metrics';
import { CacheStats } from '../stats/cache-stats';
import { BaseRecordStrategy } from './base-record.strategy';

/**
 * Write-through: every create and update commits to Postgres and then stores the new row in Redis before
 * answering, so the next read is a hit; delete removes the row from both and leaves a tombstone. Cache writes
 * are version-checked in Redis (an older version never replaces a newer one, whatever order concurrent writes
 * arrive in). Postgres is the source of truth: a failed cache write still answers success and is replaced by
 * an invalidation replayed once Redis is back. Consistency: read-your-writes, and reads after writes are hits.
 * Cost: every write pays a Redis round trip, even for rows nobody reads.
 */
@Injectable()
export class WriteThroughStrategy<T extends CacheableRecord, C, U> extends BaseRecordStrategy<T, C, U> {
  readonly pattern: PatternName = 'write-through';
  private totalWrites = 0;
  private successfulWrites = 0;
  private failedWrites = 0;
  private rejectedWrites = 0;
  private cacheWriteFailures = 0;

  constructor(cache: RecordCache, store: RecordStore<T, C, U>, stats: CacheStats) {
    super(cache, store, stats);
  }

  override create(input: C, options?: WriteOptions<T>): Promise<T> {
    return this.write(async () => {
      const created = await this.store.insert(input, options);
      this.stats.countDbWrite();
      await this.storeInCache(created);
      return created;
    });
  }

  override update(id: number, changes: U, options?: WriteOptions<T>): Promise<T> {
    return this.write(async () => {
      const updated = await this.store.update(id, changes, options);
      this.stats.countDbWrite();
      await this.storeInCache(updated);
      return updated;
    });
  }

  override remove(id: number, options?: WriteOptions<T>): Promise<void> {
    return this.write(async () => {
      await this.store.delete(id, options);
      this.stats.countDbWrite();
      await this.cache.markDeleted(id);
      this.written(id);
    });
  }

  override statsExtras(): Record<string, number> {
    return {
      totalWrites: this.totalWrites,
      successfulWrites: this.successfulWrites,
      failedWrites: this.failedWrites,
      rejectedWrites: this.rejectedWrites,
      cacheWriteFailures: this.cacheWriteFailures,
    };
  }

  override extraMetrics(): DerivedMetric<PatternStatsExtras>[] {
    return [
      {
        name: 'write_through_writes_total',
        help: 'Writes by result: success, failed (PostgreSQL or Redis error), rejected (bad input, conflict)',
        type: 'counter',
        labelNames: ['result'],
        samples: (s) => [
          ...(sample(s.successfulWrites, { result: 'success' }) ?? []),
          ...(sample(s.failedWrites, { result: 'failed' }) ?? []),
          ...(sample(s.rejectedWrites, { result: 'rejected' }) ?? []),
        ],
      },
      counter(
        'write_through_cache_write_failures_total',
        'Writes in PostgreSQL whose cache update failed (the entry was dropped instead)',
        (s) => s.cacheWriteFailures,
      ),
    ];
  }

  private async storeInCache(row: T): Promise<void> {
    const outcome = await this.cache.setIfNewer(row);
    if (outcome === 'failed') this.cacheWriteFailures += 1;
    this.written(row.id);
  }

  /** Counts a write: failed means Postgres could not take it (5xx); a 404 or 409 is rejected, not failed. */
  private async write<R>(work: () => Promise<R>): Promise<R> {
    this.totalWrites += 1;
    try {
      const result = await work();
      this.successfulWrites += 1;
      return result;
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status !== undefined && status < 500) this.rejectedWrites += 1;
      else this.failedWrites += 1;
      throw error;
    }
  }
}
