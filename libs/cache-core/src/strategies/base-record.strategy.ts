import type { IdempotencyClaim, StoredOutcome, WriteOptions } from '@app/common';
import { type CacheableRecord, type CacheRead, CacheStrategy } from '../cache-strategy';
import type { RecordStore } from '../record-store';
import type { CacheLookup, RecordCache } from '../redis/record-cache';
import type { CacheStats } from '../stats/cache-stats';

/** A read as a strategy's `read` returns it. */
export type StrategyRead<T> = CacheRead<T>;

/**
 * What the record strategies share, with cache-aside's behaviour as the default: reads look in Redis, load
 * from Postgres on a miss and fill under a lease; writes go to Postgres and then invalidate. Every read asks
 * Redis itself, after it started: a read never shares another read's answer, which may predate a write
 * acknowledged in between (on any instance). Concurrent misses still reach Postgres once, through the lease
 * (see `RecordCache.lookup`).
 */
export abstract class BaseRecordStrategy<T extends CacheableRecord, C, U> extends CacheStrategy<T, C, U> {
  constructor(
    protected readonly cache: RecordCache,
    protected readonly store: RecordStore<T, C, U>,
    protected readonly stats: CacheStats,
  ) {
    super();
  }

  async get(id: number): Promise<CacheRead<T>> {
    const read = await this.read(id);
    this.stats.countRead(read.outcome, read.tier);
    return read;
  }

  async create(input: C, options?: WriteOptions<T>): Promise<T> {
    const created = await this.store.insert(input, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(created.id, created.version);
    return created;
  }

  async update(id: number, changes: U, options?: WriteOptions<T>): Promise<T> {
    const updated = await this.store.update(id, changes, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(id, updated.version);
    return updated;
  }

  async remove(id: number, options?: WriteOptions<T>): Promise<void> {
    await this.store.delete(id, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(id);
  }

  storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    return this.store.storedOutcome(claim);
  }

  /** One read of `id`. */
  protected async read(id: number): Promise<StrategyRead<T>> {
    const cached = await this.cache.lookup<T>(id);
    if (cached.kind === 'hit') return { value: cached.value, outcome: 'HIT', tier: cached.tier };
    const row = await this.loadOnMiss(id, cached, () => this.store.findById(id));
    this.stats.countDbRead();
    if (cached.kind !== 'miss') return { value: row, outcome: 'BYPASS' };
    await this.cache.settle(id, cached.lease, row ?? undefined);
    return { value: row, outcome: 'MISS' };
  }

  /** Loads after a miss; if the load fails, the miss's lease is let go for the next reader. */
  protected async loadOnMiss(id: number, cached: CacheLookup<T>, load: () => Promise<T | null>): Promise<T | null> {
    try {
      return await load();
    } catch (error) {
      if (cached.kind === 'miss') void this.cache.settle(id, cached.lease);
      throw error;
    }
  }
}
