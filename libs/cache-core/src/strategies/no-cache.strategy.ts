import type { IdempotencyClaim, StoredOutcome, WriteOptions } from '@app/common';
import { Injectable } from '@nestjs/common';
import { type CacheableRecord, type CacheRead, CacheStrategy } from '../cache-strategy';
import { RecordStore } from '../record-store';
import { CacheStats } from '../stats/cache-stats';

/**
 * No cache at all: every read and write goes to Postgres (`X-Cache: BYPASS`). The benchmark's baseline, so
 * each pattern's numbers can be read as a gain over not caching.
 */
@Injectable()
export class NoCacheStrategy<T extends CacheableRecord, C, U> extends CacheStrategy<T, C, U> {
  readonly pattern = 'no-cache' as const;

  constructor(
    private readonly store: RecordStore<T, C, U>,
    private readonly stats: CacheStats,
  ) {
    super();
  }

  async get(id: number): Promise<CacheRead<T>> {
    const value = await this.store.findById(id);
    this.stats.countDbRead();
    this.stats.countRead('BYPASS');
    return { value, outcome: 'BYPASS' };
  }

  async create(input: C, options?: WriteOptions<T>): Promise<T> {
    const created = await this.store.insert(input, options);
    this.stats.countDbWrite();
    return created;
  }

  async update(id: number, changes: U, options?: WriteOptions<T>): Promise<T> {
    const updated = await this.store.update(id, changes, options);
    this.stats.countDbWrite();
    return updated;
  }

  async remove(id: number, options?: WriteOptions<T>): Promise<void> {
    await this.store.delete(id, options);
    this.stats.countDbWrite();
  }

  storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    return this.store.storedOutcome(claim);
  }
}
