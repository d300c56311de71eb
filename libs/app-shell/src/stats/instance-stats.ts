import { CacheStats, CacheStrategy, InvalidationOutbox, NearCache, ReplicaLoads, StatsBoard } from '@app/cache-core';
import { AppIdentity, CacheUnavailableError } from '@app/common';
import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** How often an instance publishes its counters, and how long they count as live after that. */
const PUBLISH_EVERY_MS = 1_000;
const LIVE_FOR_MS = 5_000;

/** The counters of `GET /stats` that add up across instances; the rest is per instance. */
const ADDITIVE = [
  'reads',
  'hits',
  'misses',
  'bypasses',
  'writes',
  'dbReads',
  'dbWrites',
  'cacheWrites',
  'invalidations',
  'errors',
] as const;

/**
 * This process's `GET /stats`, and the sum over every live instance of the app: each instance publishes its
 * counters to Redis every second with a 5 s TTL (`StatsBoard`), so a stopped or dead instance drops out.
 */
@Injectable()
export class InstanceStats implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Names this process among the app's instances. */
  readonly instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly strategy: CacheStrategy,
    private readonly stats: CacheStats,
    private readonly board: StatsBoard,
    private readonly identity: AppIdentity,
    private readonly outbox: InvalidationOutbox,
    private readonly near: NearCache,
    private readonly replicaLoads: ReplicaLoads,
  ) {}

  /** Counters of this process since it started, and latency percentiles over its last 10,000 reads and writes. */
  async local(): Promise<Record<string, unknown>> {
    return {
      pattern: this.strategy.pattern,
      ...this.stats.snapshot(),
      ...(await this.strategy.statsExtras()),
      outbox: this.outbox.snapshot(),
      near: this.near.snapshot(),
      replicas: this.replicaLoads.snapshot(),
    };
  }

  /** The additive counters summed over every live instance, and each instance's own counters. */
  async cluster(): Promise<Record<string, unknown>> {
    let instances: { instance: string; counters: Record<string, unknown> }[];
    try {
      await this.publish();
      instances = await this.board.all();
    } catch {
      throw new CacheUnavailableError(
        'Cache unavailable: the instances publish their counters to Redis',
        'not-applied',
      );
    }
    const sums = Object.fromEntries(
      ADDITIVE.map((name) => [name, instances.reduce((total, { counters }) => total + Number(counters[name] ?? 0), 0)]),
    ) as Record<(typeof ADDITIVE)[number], number>;
    return {
      scope: 'cluster',
      app: this.identity.name,
      pattern: this.strategy.pattern,
      instanceCount: instances.length,
      ...sums,
      hitRatio: sums.reads === 0 ? 0 : Math.round((sums.hits / sums.reads) * 1000) / 1000,
      instances: instances.map(({ instance, counters }) => ({ instance, ...counters })),
    };
  }

  onApplicationBootstrap(): void {
    void this.publishQuietly();
    this.timer = setInterval(() => void this.publishQuietly(), PUBLISH_EVERY_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.board.withdraw(this.instance).catch(() => undefined);
  }

  private async publish(): Promise<void> {
    await this.board.publish(this.instance, await this.local(), LIVE_FOR_MS);
  }

  /** Redis away: this instance is simply missing from the cluster view until it is back. */
  private async publishQuietly(): Promise<void> {
    await this.publish().catch(() => undefined);
  }
}
