import type { IdempotencyClaim, StoredOutcome, WriteOptions } from '@app/common';
import { type CacheableRecord, type CacheRead, CacheStrategy } from '../cache-strategy';
import type { RecordStore } from '../record-store';
import type { RecordCache } from '../redis/record-cache';
import { SingleFlight } from '../single-flight';
import type { CacheStats } from '../stats/cache-stats';

/**
 * What the record strategies share, with cache-aside's behaviour as the default: reads look in Redis, load
 * from Postgres on a miss and fill under a lease; writes go to Postgres and then invalidate. Every read goes
 * through a per-key single flight; after each write the in-flight read is forgotten, so a read that starts
 * after the write is acknowledged never joins a load that may have read the old row.
 */
export abstract class BaseRecordStrategy<T extends CacheableRecord, C, U> extends CacheStrategy<T, C, U> {
  private readonly reads = new SingleFlight<CacheRead<T>>();

  constructor(
    protected readonly cache: RecordCache,
    protected readonly store: RecordStore<T, C, U>,
    protected readonly stats: CacheStats,
  ) {
    super();
  }

  async get(id: number): Promise<CacheRead<T>> {
    const read = await this.reads.run(String(id), () => this.read(id));
    this.stats.countRead(read.outcome);
    return read;
  }

  async create(input: C, options?: WriteOptions<T>): Promise<T> {
    const created = await this.store.insert(input, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(created.id);
    this.written(created.id);
    return created;
  }

  async update(id: number, changes: U, options?: WriteOptions<T>): Promise<T> {
    const updated = await this.store.update(id, changes, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(id);
    this.written(id);
    return updated;
  }

  async remove(id: number, options?: WriteOptions<T>): Promise<void> {
    await this.store.delete(id, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(id);
    this.written(id);
  }

  storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    return this.store.storedOutcome(claim);
  }

  /** One read of `id`; runs at most once at a time per key. */
  protected async read(id: number): Promise<CacheRead<T>> {
    const cached = await this.cache.lookup<T>(id);
    if (cached.kind === 'hit') return { value: cached.value, outcome: 'HIT' };
    const row = await this.store.findById(id);
    this.stats.countDbRead();
    if (cached.kind === 'miss' && row !== null) await this.cache.fill(id, row, cached.lease);
    return { value: row, outcome: cached.kind === 'miss' ? 'MISS' : 'BYPASS' };
  }

  /** Call once a write of `id` is in Postgres and the cache has been told. */
  protected written(id: number): void {
    this.reads.forget(String(id));
  }
}
