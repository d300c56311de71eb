import {
  cacheMetrics,
  type CacheMetricsSnapshot,
  CacheStats,
  CacheStrategy,
  NearCache,
  type PatternStatsExtras,
  ReplicaLoads,
} from '@app/cache-core';
import { AppMetrics, derivedFrom } from '@app/common';
import { Injectable, type OnModuleInit } from '@nestjs/common';

/**
 * A pattern app's metrics: the cache metrics and the pattern's own, read once per scrape from the counters
 * `GET /stats` shows, plus the Postgres load histogram.
 */
interface PatternSnapshot {
  cache: CacheMetricsSnapshot;
  extras: PatternStatsExtras;
}

@Injectable()
export class PatternMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: AppMetrics,
    private readonly stats: CacheStats,
    private readonly near: NearCache,
    private readonly strategy: CacheStrategy,
    private readonly replicaLoads: ReplicaLoads,
  ) {}

  onModuleInit(): void {
    this.metrics.register(this.stats.loadDuration);
    this.metrics.derive<PatternSnapshot>(
      async () => ({
        cache: { ...this.stats.snapshot(), near: this.near.snapshot(), replicas: this.replicaLoads.snapshot() },
        extras: await this.strategy.statsExtras(),
      }),
      [
        ...derivedFrom(cacheMetrics(this.stats.cacheName), (s: PatternSnapshot) => s.cache),
        ...derivedFrom(this.strategy.extraMetrics(), (s: PatternSnapshot) => s.extras),
      ],
    );
  }
}
