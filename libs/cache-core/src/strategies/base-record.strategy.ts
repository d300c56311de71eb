import type { IdempotencyClaim, StoredOutcome, WriteOptions } from '@app/common';
import { Logger } from '@nestjs/common';
import { type CacheableRecord, type CacheRead, CacheStrategy } from '../cache-strategy';
import type { RecordStore } from '../record-store';
import type { CacheLookup, RecordCache } from '../records/record-cache';
import { SingleFlight } from '../single-flight';
import type { CacheStats } from '../stats/cache-stats';

/**
 * A read as a strategy's `read` returns it. `current: false` marks a load from Postgres that may be older than a
 * write made meanwhile through another instance (the fill lost its lease, or never had it); callers that joined
 * that load late read again rather than take it.
 */
export type StrategyRead<T> = CacheRead<T> & { current?: boolean };

/**
 * What the record strategies share, with cache-aside's behaviour as the default: reads look in Redis, load
 * from Postgres on a miss and fill under a lease; writes go to Postgres and then invalidate. Concurrent reads of
 * one key in this process share one read (a single flight), which is detached as soon as a write of that key is
 * made here or announced by any instance (the invalidation outbox's `NOTIFY`, which arrives before that write
 * is acknowledged): a read that starts after a write's acknowledgement never takes the answer of a read that
 * may predate it.
 */
export abstract class BaseRecordStrategy<T extends CacheableRecord, C, U> extends CacheStrategy<T, C, U> {
  private readonly reads = new SingleFlight<StrategyRead<T>>();
  private readonly readLogger = new Logger('CacheStrategy');
  /**
   * False where a write is not announced when it is acknowledged (write-behind reaches Postgres, and so the
   * outbox, only when flushed): there a read cannot know that a read in flight predates another instance's
   * write, so every read asks Redis itself.
   */
  protected readonly shareReads: boolean = true;

  constructor(
    protected readonly cache: RecordCache,
    protected readonly store: RecordStore<T, C, U>,
    protected readonly stats: CacheStats,
  ) {
    super();
    cache.onChange((id) => this.reads.forget(String(id)));
  }

  async get(id: number): Promise<CacheRead<T>> {
    if (!this.shareReads) {
      const own = await this.read(id);
      if (own.outcome !== 'HIT') this.explainLoad(id, own);
      this.stats.countRead(own.outcome, own.tier);
      return { value: own.value, outcome: own.outcome, tier: own.tier };
    }
    const { value: shared, joined } = await this.reads.join(String(id), () => this.read(id));
    const read = joined && shared.current === false ? await this.read(id) : shared;
    if (read.outcome !== 'HIT') this.explainLoad(id, read);
    this.stats.countRead(read.outcome, read.tier);
    return { value: read.value, outcome: read.outcome, tier: read.tier };
  }

  async create(input: C, options?: WriteOptions<T>): Promise<T> {
    const created = await this.store.insert(input, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(created.id, created.version);
    this.written(created.id);
    return created;
  }

  async update(id: number, changes: U, options?: WriteOptions<T>): Promise<T> {
    const updated = await this.store.update(id, changes, options);
    this.stats.countDbWrite();
    await this.cache.invalidate(id, updated.version);
    this.written(id);
    return updated;
  }

  async remove(id: number, options?: WriteOptions<T>): Promise<void> {
    await this.store.delete(id, options);
    this.stats.countDbWrite();
    await this.cache.markDeleted(id);
    this.written(id);
  }

  storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    return this.store.storedOutcome(claim);
  }

  /** A debug line at the decision a miss or a bypass made (`LOG_LEVEL=debug`). */
  private explainLoad(id: number, read: StrategyRead<T>): void {
    if (!Logger.isLevelEnabled('debug')) return;
    const what = `${this.store.entityName} ${id}`;
    if (read.outcome === 'BYPASS') this.readLogger.debug(`${what}: Redis not used, read from PostgreSQL`);
    else if (read.current === false)
      this.readLogger.debug(`${what}: miss, loaded; not cached (a write took the lease)`);
    else this.readLogger.debug(`${what}: miss, loaded from PostgreSQL and cached`);
  }

  /** One read of `id`; runs at most once at a time per key. */
  protected async read(id: number): Promise<StrategyRead<T>> {
    const cached = await this.cache.lookup<T>(id);
    if (cached.kind === 'hit') return { value: cached.value, outcome: 'HIT', tier: cached.tier };
    const row = await this.loadOnMiss(id, cached, () => this.store.findById(id));
    this.stats.countDbRead();
    if (cached.kind !== 'miss') return { value: row, outcome: 'BYPASS' };
    return { value: row, outcome: 'MISS', current: await this.cache.endMiss(id, cached.lease, row ?? undefined) };
  }

  /** Loads after a miss; if the load fails, the miss's lease is let go for the next reader. */
  protected async loadOnMiss(id: number, cached: CacheLookup<T>, load: () => Promise<T | null>): Promise<T | null> {
    try {
      return await this.stats.timeLoad(load);
    } catch (error) {
      if (cached.kind === 'miss') void this.cache.endMiss(id, cached.lease);
      throw error;
    }
  }

  /** Call once a write of `id` is in Postgres and the cache has been told. */
  protected written(id: number): void {
    this.reads.forget(String(id));
  }
}
