import type { DerivedMetric, ReadSource } from '@app/common';
import { Inject, Injectable } from '@nestjs/common';
import type { CacheableRecord, PatternStatsExtras } from '../cache-strategy';
import { RecordStore } from '../record-store';
import { RecordCache } from '../records/record-cache';
import { counter } from '../stats/cache-metrics';
import { CacheStats } from '../stats/cache-stats';
import { BaseRecordStrategy, type StrategyRead } from './base-record.strategy';

/** Loads one record by id from the system of record; null when it does not exist. */
/** Loads a record: from the primary, or from `from` (a read replica) when given. */
export type RecordLoader<T> = (id: number, from?: ReadSource) => Promise<T | null>;

/** The loader a read-through app registers once, in its module configuration. */
export const RECORD_LOADER = Symbol('RECORD_LOADER');

/**
 * Read-through: the cache owns loading. The app registers a loader once (`RECORD_LOADER`) and reads only
 * through the cache, which calls the loader on a miss, shares one load among concurrent misses, and
 * remembers absent ids for a short negative TTL so floods of unknown ids do not reach Postgres. Writes go to
 * Postgres and invalidate, as in cache-aside, with the same guard against stale fills; creating a record
 * clears its cached absence. Consistency: read-your-writes; a missing id may read as missing for up to the
 * negative TTL only if it is created by another app instance.
 */
@Injectable()
export class ReadThroughStrategy<T extends CacheableRecord, C, U> extends BaseRecordStrategy<T, C, U> {
  readonly pattern = 'read-through' as const;
  private loads = 0;
  private absentLoads = 0;
  private negativeHits = 0;

  constructor(
    cache: RecordCache,
    store: RecordStore<T, C, U>,
    stats: CacheStats,
    @Inject(RECORD_LOADER) private readonly loader: RecordLoader<T>,
  ) {
    super(cache, store, stats);
  }

  override statsExtras(): Record<string, number> {
    const { reads, hits } = this.stats.snapshot();
    return {
      reads,
      cacheHits: hits,
      databaseHits: this.loads,
      absentLoads: this.absentLoads,
      negativeHits: this.negativeHits,
    };
  }

  override extraMetrics(): DerivedMetric<PatternStatsExtras>[] {
    return [
      counter('read_through_negative_hits_total', 'Hits on a cached "no such record"', (s) => s.negativeHits),
      counter(
        'read_through_absent_loads_total',
        'Loads that found no record (then cached as absent)',
        (s) => s.absentLoads,
      ),
    ];
  }

  protected override async read(id: number): Promise<StrategyRead<T>> {
    const cached = await this.cache.lookup<T>(id);
    if (cached.kind === 'hit') {
      if (cached.value === null) this.negativeHits += 1;
      return { value: cached.value, outcome: 'HIT', tier: cached.tier, ttlMs: cached.ttlMs };
    }
    return this.afterMiss(
      id,
      cached,
      async (from) => {
        const value = await this.loader(id, from);
        this.stats.countDbRead();
        if (value === null) this.absentLoads += 1;
        else this.loads += 1;
        return value;
      },
      // "Absent" is cached too, for its own (shorter) TTL and with no grace copy.
      (value) => (value === null ? this.cache.negativeTtlMs() : this.cache.ttlMs()),
    );
  }
}
