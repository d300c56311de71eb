import {
  DatabaseUnavailableError,
  type IdempotencyClaim,
  type ReadSource,
  type StoredOutcome,
  type WriteOptions,
} from '@app/common';
import { Logger } from '@nestjs/common';
import { type CacheableRecord, type CacheRead, CacheStrategy, type StaleReason } from '../cache-strategy';
import type { RecordStore } from '../record-store';
import type { CacheLookup, RecordCache } from '../records/record-cache';
import type { StaleCopy } from '../records/lease-guarded-reads';
import { FailingLoads } from '../failing-loads';
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
  private readonly failingLoads = new FailingLoads();
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
      return this.answered(id, own);
    }
    const { value: shared, joined } = await this.reads.join(String(id), () => this.read(id));
    if (joined && shared.current === false) return this.answered(id, await this.read(id));
    return this.answered(id, joined ? { ...shared, collapsed: true } : shared);
  }

  private answered(id: number, read: StrategyRead<T>): CacheRead<T> {
    if (read.outcome !== 'HIT') this.explainLoad(id, read);
    this.stats.countRead(read.outcome, read.tier, read.staleReason);
    const { value, outcome, tier, ttlMs, stored, collapsed, staleReason } = read;
    return { value, outcome, tier, ttlMs, stored, collapsed, staleReason };
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
    if (cached.kind === 'hit') return { value: cached.value, outcome: 'HIT', tier: cached.tier, ttlMs: cached.ttlMs };
    return this.afterMiss(id, cached, async (from) => {
      const row = await this.store.findById(id, from);
      this.stats.countDbRead();
      return row;
    });
  }

  /**
   * A read that the cache could not answer: loads from Postgres, bounded by `CACHE_LOAD_TIMEOUT_MS` (then a 503),
   * and fills the entry under the miss's lease (`ttlFor`: the TTL to fill with, undefined to cache nothing). With a
   * grace copy, answers it when the load fails, or once `CACHE_SOFT_TIMEOUT_MS` has passed (the load then goes on
   * and fills the entry for the next read), or at once when another reader has held the lease that long.
   */
  protected async afterMiss(
    id: number,
    cached: Exclude<CacheLookup<T>, { kind: 'hit' }>,
    load: (from?: ReadSource) => Promise<T | null>,
    ttlFor: (row: T | null) => number | undefined = (row) => (row === null ? undefined : this.cache.ttlMs()),
  ): Promise<StrategyRead<T>> {
    if (cached.kind === 'unavailable') return this.bypass(load, cached.copy);
    const { lease, stale, floor } = cached;
    if (stale !== undefined && lease === null) return staleRead(stale, 'soft-timeout');
    // From a read replica when one is in use, refused there if older than the floor the lease step brought.
    const loading = this.boundedLoad((signal) => this.cache.load(floor, load, signal)).then(
      async (row): Promise<StrategyRead<T>> => {
        const ttlMs = ttlFor(row);
        const current = await this.cache.endMiss(id, lease, ttlMs === undefined ? undefined : row, ttlMs);
        return { value: row, outcome: 'MISS', current, stored: current && ttlMs !== undefined };
      },
      (error: unknown) => {
        if (lease !== null) void this.cache.endMiss(id, lease);
        throw error;
      },
    );
    if (stale === undefined) return loading;
    let timer: NodeJS.Timeout | undefined;
    const softTimeout = new Promise<'soft-timeout'>((resolve) => {
      timer = setTimeout(() => resolve('soft-timeout'), this.cache.loadTimeouts.softMs);
    });
    try {
      const first = await Promise.race([loading, softTimeout]);
      if (first !== 'soft-timeout') return first;
      // The load goes on and fills the entry; a failure of it is the next read's business.
      loading.catch(() => undefined);
      return staleRead(stale, 'soft-timeout');
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) return staleRead(stale, 'stale-if-error');
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A read that does not use Redis: Postgres, or the entry's `copy` (when given) if Postgres fails. While loads
   * are failing, a read with a copy answers it at once, and at most one load at a time tries Postgres again.
   */
  private async bypass(
    find: (from?: ReadSource) => Promise<T | null>,
    copy?: () => Promise<StaleCopy<T> | undefined>,
  ): Promise<StrategyRead<T>> {
    const load = (signal: AbortSignal): Promise<T | null> => this.cache.loadFromPrimary(find, signal);
    if (copy !== undefined && this.failingLoads.failing) {
      const stale = await copy();
      if (stale !== undefined) {
        this.failingLoads.probe(() => this.boundedLoad(load));
        return staleRead(stale, 'stale-if-error');
      }
    }
    try {
      return { value: await this.failingLoads.track(this.boundedLoad(load)), outcome: 'BYPASS' };
    } catch (error) {
      const stale = error instanceof DatabaseUnavailableError ? await copy?.() : undefined;
      if (stale === undefined) throw error;
      return staleRead(stale, 'stale-if-error');
    }
  }

  /**
   * A load from Postgres, timed, that the read stops waiting for after `CACHE_LOAD_TIMEOUT_MS` (a 503): then its
   * statement is cancelled in Postgres (the signal `load` gets aborts), not left to run to `statement_timeout`.
   */
  private boundedLoad(load: (signal: AbortSignal) => Promise<T | null>): Promise<T | null> {
    const { hardMs } = this.cache.loadTimeouts;
    const abandoned = new AbortController();
    const loading = this.stats.timeLoad(() => load(abandoned.signal));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        loading.catch(() => undefined);
        abandoned.abort(new DatabaseUnavailableError(`PostgreSQL did not answer within ${hardMs} ms`));
        reject(new DatabaseUnavailableError(`PostgreSQL did not answer within ${hardMs} ms, try again later`));
      }, hardMs);
    });
    return Promise.race([loading, timeout]).finally(() => clearTimeout(timer));
  }

  /** Call once a write of `id` is in Postgres and the cache has been told. */
  protected written(id: number): void {
    this.reads.forget(String(id));
  }
}

/** A grace copy as a read's answer. */
function staleRead<T>(stale: StaleCopy<T>, reason: StaleReason): StrategyRead<T> {
  return { value: stale.value, outcome: 'STALE', staleReason: reason, ttlMs: -stale.staleForMs };
}
