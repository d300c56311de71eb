import { type DerivedMetric, type ReadSource, RefreshAheadConfig } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { CacheableRecord, CacheRead, PatternName, PatternStatsExtras } from '../../cache-strategy';
import type { StrategyRead } from '../base-record.strategy';
import { RecordStore } from '../../record-store';
import { CacheKeys } from '../../redis/cache-keys';
import { RecordCache } from '../../records/record-cache';
import { RedisLock } from '../../redis/redis-lock';
import { SingleFlight } from '../../single-flight';
import { counter, gauge, sample } from '../../stats/cache-metrics';
import { CacheStats } from '../../stats/cache-stats';
import { WriteThroughStrategy } from '../write-through.strategy';
import { HotKeys } from './hot-keys';
import { earlyRefreshWindowMs, shouldRefreshEarly } from './xfetch';

export type RefreshOutcome = 'refreshed' | 'superseded' | 'gone' | 'failed' | 'unavailable';

export type SweepResult =
  | { status: 'swept'; hot: number; due: number; refreshed: number; failed: number }
  | { status: 'locked' | 'busy' | 'unavailable' | 'failed' };

const SWEEP_LOCK_TTL_MS = 30_000;

/** How many entries' expiry times a strategy remembers (the oldest remembered is forgotten first). */
const KNOWN_EXPIRIES_MAX = 20_000;

/**
 * Refresh-ahead: popular records are reloaded before they expire, so their readers never pay a miss, while
 * cold records expire normally. A scheduled sweep (one instance at a time, under a Redis lock) reloads the hot
 * keys whose remaining TTL fell below a threshold, at most `budget` per sweep; reads also refresh early with
 * XFetch. "Hot" is a decayed access count in a capped Redis sorted set. Writes behave as write-through. A
 * refresh fills under a lease that every write voids, so it never writes older data over a newer write nor
 * brings back a deleted record. Consistency: read-your-writes; reads of hot keys are hits.
 */
@Injectable()
export class RefreshAheadStrategy<T extends CacheableRecord, C, U> extends WriteThroughStrategy<T, C, U> {
  override readonly pattern: PatternName = 'refresh-ahead';
  private readonly logger = new Logger(RefreshAheadStrategy.name);
  private readonly refreshes = new SingleFlight<RefreshOutcome>();
  private readonly lockKey: string;
  private sweeping = false;
  /** Moving average of how long a reload takes: XFetch's delta. */
  private loadTimeMs = 5;
  private proactiveRefreshes = 0;
  private earlyRefreshes = 0;
  private refreshFailures = 0;
  private sweeps = 0;
  private hotItems = 0;
  /** Hot keys a sweep found already expired: the expiries this pattern can see (and then reloads). */
  private expiredHotKeys = 0;
  /**
   * When each entry read lately expires, as its last TTL said: until it nears, a hit is a plain GET (a script
   * that also reads the TTL costs Redis and this process more). Near it, the TTL is read again, and a refresh
   * by anyone has moved it later. Only a write soon after the read can set an earlier expiry (the TTL's
   * jitter); that costs at most one early refresh not made, never a stale read.
   */
  private readonly expiries = new LRUCache<number, number>({ max: KNOWN_EXPIRIES_MAX });

  constructor(
    cache: RecordCache,
    store: RecordStore<T, C, U>,
    stats: CacheStats,
    private readonly hotKeys: HotKeys,
    private readonly locks: RedisLock,
    keys: CacheKeys,
    private readonly options: RefreshAheadConfig,
  ) {
    super(cache, store, stats);
    this.lockKey = keys.lock('refresh');
  }

  override async get(id: number): Promise<CacheRead<T>> {
    const read = await super.get(id);
    if (read.value !== null) this.hotKeys.recordAccess(id);
    return read;
  }

  /**
   * Reloads `id` from Postgres and stores it under a lease with a fresh TTL. One refresh per key at a time;
   * a failure (Postgres down) is counted and the cached value stays until it expires.
   */
  refresh(id: number): Promise<RefreshOutcome> {
    return this.refreshes.run(String(id), () => this.reload(id));
  }

  /** One sweep: refresh the hot keys that are about to expire (or have), within the budget. */
  async sweep(): Promise<SweepResult> {
    if (this.sweeping) return { status: 'busy' };
    if (!this.cache.available) return { status: 'unavailable' };
    this.sweeping = true;
    try {
      // On the write connection: its longer timeout lets the release through when the cores are busy, so a lock
      // is not left held for its whole TTL (every other sweep then finds it taken).
      const lock = await this.locks.acquire(this.lockKey, SWEEP_LOCK_TTL_MS, 'write');
      if (lock === null) return { status: 'locked' };
      try {
        return await this.sweepHotKeys();
      } finally {
        await lock.release();
      }
    } catch (error) {
      this.cache.failed(error);
      this.logger.warn(`Sweep failed: ${(error as Error).message}`);
      return { status: 'failed' };
    } finally {
      this.sweeping = false;
    }
  }

  /** The hot set as `GET /hot-items` shows it. */
  async hot(): Promise<{ hotItems: number[]; accessCounts: Record<string, number> }> {
    const hot = await this.hotKeys.hottest();
    return {
      hotItems: hot.map((key) => key.id),
      accessCounts: Object.fromEntries(hot.map((key) => [String(key.id), key.score])),
    };
  }

  override statsExtras(): Record<string, number> {
    const { reads, hits } = this.stats.snapshot();
    return {
      ...super.statsExtras(),
      totalReads: reads,
      cacheHits: hits,
      cacheMisses: reads - hits,
      proactiveRefreshes: this.proactiveRefreshes,
      earlyRefreshes: this.earlyRefreshes,
      refreshFailures: this.refreshFailures,
      sweeps: this.sweeps,
      hotItems: this.hotItems,
      expiredHotKeys: this.expiredHotKeys,
    };
  }

  override extraMetrics(): DerivedMetric<PatternStatsExtras>[] {
    return [
      ...super.extraMetrics(),
      {
        name: 'refresh_ahead_refreshes_total',
        help: 'Entries reloaded before they expired: by the sweep of the hot set, or early by a read (XFetch)',
        type: 'counter',
        labelNames: ['kind'],
        samples: (s) => [
          ...(sample(s.proactiveRefreshes, { kind: 'sweep' }) ?? []),
          ...(sample(s.earlyRefreshes, { kind: 'early' }) ?? []),
        ],
      },
      counter('refresh_ahead_refresh_failures_total', 'Refreshes that failed', (s) => s.refreshFailures),
      counter('refresh_ahead_sweeps_total', 'Sweeps of the hot set this instance ran', (s) => s.sweeps),
      gauge('refresh_ahead_hot_keys', 'Keys in the hot set at the last sweep', (s) => s.hotItems),
      counter(
        'refresh_ahead_expired_hot_keys_total',
        'Hot keys a sweep found already expired in Redis (then reloaded)',
        (s) => s.expiredHotKeys,
      ),
    ];
  }

  protected override async read(id: number): Promise<StrategyRead<T>> {
    const expiry = this.expiries.peek(id);
    const withTtl =
      expiry === undefined || expiry - Date.now() <= earlyRefreshWindowMs(this.loadTimeMs, this.options.xfetchBeta);
    const cached = await this.cache.lookup<T>(id, { withTtl });
    if (cached.kind === 'hit') {
      if (cached.ttlMs !== undefined) this.rememberExpiry(id, cached.ttlMs);
      if (cached.value !== null && shouldRefreshEarly(cached.ttlMs ?? -1, this.loadTimeMs, this.options.xfetchBeta)) {
        this.earlyRefreshes += 1;
        void this.refresh(id);
      }
      return { value: cached.value, outcome: 'HIT', tier: cached.tier, ttlMs: cached.ttlMs };
    }
    this.expiries.delete(id);
    return this.afterMiss(id, cached, (from) => this.load(id, from));
  }

  private async sweepHotKeys(): Promise<SweepResult> {
    this.sweeps += 1;
    const hot = await this.hotKeys.hottest();
    this.hotItems = hot.length;
    const ttls = await this.cache.remainingTtls(hot.map((key) => key.id));
    const refreshBelowMs = this.options.threshold * this.cache.fullTtlMs;
    this.expiredHotKeys += ttls.filter((ttl) => ttl === -2).length;
    const due = hot
      .filter((_, index) => {
        const ttl = ttls[index];
        return ttl === -2 || (ttl !== null && ttl !== undefined && ttl >= 0 && ttl < refreshBelowMs);
      })
      .slice(0, this.options.budget);
    let refreshed = 0;
    let failed = 0;
    for (const key of due) {
      const outcome = await this.refresh(key.id);
      if (outcome === 'refreshed') refreshed += 1;
      if (outcome === 'failed') failed += 1;
    }
    this.logger.debug(`Sweep: ${hot.length} hot, ${due.length} due, ${refreshed} refreshed, ${failed} failed`);
    return { status: 'swept', hot: hot.length, due: due.length, refreshed, failed };
  }

  private async reload(id: number): Promise<RefreshOutcome> {
    const leased = await this.cache.acquireLease(id);
    if (leased === null) return 'unavailable';
    const { lease, floor } = leased;
    let row: T | null;
    try {
      // From a read replica when one is in use, refused there if older than the floor the lease brought.
      row = await this.cache.load(floor, (from) => this.load(id, from));
    } catch (error) {
      this.refreshFailures += 1;
      // Let the lease go: readers need not wait for a refresh that will not come.
      await this.cache.endMiss(id, lease);
      this.logger.warn(`Refresh of ${id} failed, keeping the cached value: ${(error as Error).message}`);
      return 'failed';
    }
    if (row === null) {
      await this.hotKeys.forget(id).catch((error: unknown) => this.cache.failed(error));
      return 'gone';
    }
    if (!(await this.cache.fill(id, row, lease))) {
      this.logger.debug(`Refresh of ${id} dropped: a write took the lease first`);
      return 'superseded';
    }
    this.proactiveRefreshes += 1;
    this.logger.debug(`Refreshed ${id} before it expired`);
    return 'refreshed';
  }

  private rememberExpiry(id: number, ttlMs: number): void {
    // -1 (no TTL) and -2 (gone) are remembered as unknown.
    if (ttlMs < 0) this.expiries.delete(id);
    else this.expiries.set(id, Date.now() + ttlMs);
  }

  private async load(id: number, from?: ReadSource): Promise<T | null> {
    const started = performance.now();
    const row = await this.store.findById(id, from);
    this.stats.countDbRead();
    this.loadTimeMs = 0.8 * this.loadTimeMs + 0.2 * (performance.now() - started);
    return row;
  }
}
