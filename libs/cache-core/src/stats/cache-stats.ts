import { Histogram } from 'prom-client';
import type { CacheOutcome, StaleReason } from '../cache-strategy';
import { type LatencyPercentiles, LatencyWindow } from './latency-window';

/** The counters every strategy reports into; one instance per app process. */
export interface CacheStatsSnapshot {
  /** hits + misses + bypasses + stale */
  reads: number;
  hits: number;
  /** Hits the in-process near cache answered (part of `hits`). */
  nearHits: number;
  misses: number;
  bypasses: number;
  /** Grace copies answered past their TTL, because Postgres failed (`staleIfError`) or was slow. */
  stale: number;
  staleIfError: number;
  staleSoftTimeout: number;
  hitRatio: number;
  /** Creates, updates and deletes this process answered (or failed). */
  writes: number;
  dbReads: number;
  dbWrites: number;
  cacheWrites: number;
  invalidations: number;
  errors: number;
  latencyMs: { read: LatencyPercentiles; write: LatencyPercentiles };
}

/**
 * In-process counters and latency windows for one app. Strategies and the Redis layer call the `count*`
 * methods; the users service times reads and writes; `GET /stats` reads a snapshot.
 */
export class CacheStats {
  private hits = 0;
  private nearHits = 0;
  private misses = 0;
  private bypasses = 0;
  private readonly stale: Record<StaleReason, number> = { 'stale-if-error': 0, 'soft-timeout': 0 };
  private dbReads = 0;
  private dbWrites = 0;
  private cacheWrites = 0;
  private invalidations = 0;
  private errors = 0;
  private writeCount = 0;
  private readonly reads = new LatencyWindow();
  private readonly writes = new LatencyWindow();
  /**
   * How long each Postgres load after a miss took. A Prometheus histogram registered by the app's metrics
   * (`cache_load_duration_seconds`), since percentiles cannot be summed across instances and buckets can.
   */
  readonly loadDuration = new Histogram({
    name: 'cache_load_duration_seconds',
    help: 'Time to load a record from PostgreSQL after a cache miss',
    labelNames: ['cache', 'result'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [],
  });

  /** @param cacheName the `cache` label of the app's metrics: `users`, `posts`. */
  constructor(readonly cacheName = 'records') {}

  countRead(outcome: CacheOutcome, tier?: 'near', staleReason: StaleReason = 'stale-if-error'): void {
    if (tier === 'near') this.nearHits += 1;
    if (outcome === 'HIT') this.hits += 1;
    else if (outcome === 'MISS') this.misses += 1;
    else if (outcome === 'STALE') this.stale[staleReason] += 1;
    else this.bypasses += 1;
  }

  countDbRead(): void {
    this.dbReads += 1;
  }

  countDbWrite(rows = 1): void {
    this.dbWrites += rows;
  }

  countCacheWrite(): void {
    this.cacheWrites += 1;
  }

  countInvalidation(): void {
    this.invalidations += 1;
  }

  countError(): void {
    this.errors += 1;
  }

  /** Runs a Postgres load after a miss, timing it into `cache_load_duration_seconds`. */
  async timeLoad<T>(load: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let result = 'failure';
    try {
      const value = await load();
      result = 'success';
      return value;
    } finally {
      this.loadDuration.observe({ cache: this.cacheName, result }, (performance.now() - started) / 1000);
    }
  }

  async timeRead<T>(work: () => Promise<T>): Promise<T> {
    return this.time(this.reads, work);
  }

  async timeWrite<T>(work: () => Promise<T>): Promise<T> {
    this.writeCount += 1;
    return this.time(this.writes, work);
  }

  snapshot(): CacheStatsSnapshot {
    const stale = this.stale['stale-if-error'] + this.stale['soft-timeout'];
    const reads = this.hits + this.misses + this.bypasses + stale;
    return {
      reads,
      hits: this.hits,
      nearHits: this.nearHits,
      misses: this.misses,
      bypasses: this.bypasses,
      stale,
      staleIfError: this.stale['stale-if-error'],
      staleSoftTimeout: this.stale['soft-timeout'],
      hitRatio: reads === 0 ? 0 : Math.round((this.hits / reads) * 10_000) / 10_000,
      writes: this.writeCount,
      dbReads: this.dbReads,
      dbWrites: this.dbWrites,
      cacheWrites: this.cacheWrites,
      invalidations: this.invalidations,
      errors: this.errors,
      latencyMs: { read: this.reads.percentiles(), write: this.writes.percentiles() },
    };
  }

  private async time<T>(window: LatencyWindow, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      window.record(performance.now() - started);
    }
  }
}
