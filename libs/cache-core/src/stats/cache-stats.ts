import { Injectable } from '@nestjs/common';
import type { CacheOutcome } from '../cache-strategy';
import { LatencyPercentiles, LatencyWindow } from './latency-window';

/** The counters every strategy reports into; one instance per app process. */
export interface CacheStatsSnapshot {
  /** hits + misses + bypasses */
  reads: number;
  hits: number;
  /** Hits the in-process near cache answered (part of `hits`). */
  nearHits: number;
  misses: number;
  bypasses: number;
  hitRatio: number;
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
@Injectable()
export class CacheStats {
  private hits = 0;
  private nearHits = 0;
  private misses = 0;
  private bypasses = 0;
  private dbReads = 0;
  private dbWrites = 0;
  private cacheWrites = 0;
  private invalidations = 0;
  private errors = 0;
  private readonly reads = new LatencyWindow();
  private readonly writes = new LatencyWindow();

  countRead(outcome: CacheOutcome, tier?: 'near'): void {
    if (tier === 'near') this.nearHits += 1;
    if (outcome === 'HIT') this.hits += 1;
    else if (outcome === 'MISS') this.misses += 1;
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

  async timeRead<T>(work: () => Promise<T>): Promise<T> {
    return this.time(this.reads, work);
  }

  async timeWrite<T>(work: () => Promise<T>): Promise<T> {
    return this.time(this.writes, work);
  }

  snapshot(): CacheStatsSnapshot {
    const reads = this.hits + this.misses + this.bypasses;
    return {
      reads,
      hits: this.hits,
      nearHits: this.nearHits,
      misses: this.misses,
      bypasses: this.bypasses,
      hitRatio: reads === 0 ? 0 : Math.round((this.hits / reads) * 10_000) / 10_000,
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
