import { cacheMetrics, type CacheMetricsSnapshot, CacheStats, NearCache, ReplicaLoads, sample } from '@app/cache-core';
import { AppMetrics, type DerivedMetric, derivedFrom } from '@app/common';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PostsService } from './posts.service';

interface BlogSnapshot {
  cache: CacheMetricsSnapshot;
  list: ReturnType<PostsService['listStats']>;
}

const LIST_METRICS: DerivedMetric<BlogSnapshot['list']>[] = [
  {
    name: 'blog_list_chunks_total',
    help: 'List chunks served: hit (read from Redis), kept (the segment kept in PostgreSQL), built (from its rows) or stale (a grace copy, Postgres failing)',
    type: 'counter',
    labelNames: ['result'],
    samples: (list) => [
      ...(sample(list.chunksFromCache, { result: 'hit' }) ?? []),
      ...(sample(list.chunksKept, { result: 'kept' }) ?? []),
      ...(sample(list.chunksBuilt, { result: 'built' }) ?? []),
      ...(sample(list.chunksStale, { result: 'stale' }) ?? []),
    ],
  },
  {
    name: 'blog_list_requests_total',
    help: 'Full-list reads by outcome: hit, miss, partial (some chunks built), bypass (Redis away), stale (grace copies, Postgres failing)',
    type: 'counter',
    labelNames: ['outcome'],
    samples: (list) =>
      Object.entries(list.fullLists).map(([outcome, count]) => [{ outcome: outcome.toLowerCase() }, count]),
  },
  {
    name: 'blog_list_reads_total',
    help: 'List reads that fill Redis (chunk builds, pages, the end) by where they ran: replica or primary',
    type: 'counter',
    labelNames: ['source'],
    samples: (list) => [
      [{ source: 'replica' }, list.listReadsFromReplica],
      [{ source: 'primary' }, list.listReadsFromPrimary],
    ],
  },
  {
    name: 'blog_list_replica_refused_total',
    help: 'List reads not sent to a replica because it had not replayed what the primary had written',
    type: 'counter',
    samples: (list) => sample(list.listReplicaRefused),
  },
  {
    name: 'blog_list_bytes_sent_total',
    help: 'Full-list body bytes sent (compressed when the client took gzip)',
    type: 'counter',
    samples: (list) => sample(list.bytesSent),
  },
  {
    name: 'blog_list_active_streams',
    help: 'Full-list responses being streamed now',
    type: 'gauge',
    samples: (list) => sample(list.activeStreams),
  },
];

/** The blog's metrics: the single posts' cache metrics and the list's, from the counters of its `/stats`. */
@Injectable()
export class BlogMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: AppMetrics,
    private readonly stats: CacheStats,
    private readonly near: NearCache,
    private readonly posts: PostsService,
    private readonly replicaLoads: ReplicaLoads,
  ) {}

  onModuleInit(): void {
    this.metrics.register(this.stats.loadDuration);
    this.metrics.derive<BlogSnapshot>(
      () => ({
        cache: { ...this.stats.snapshot(), near: this.near.snapshot(), replicas: this.replicaLoads.snapshot() },
        list: this.posts.listStats(),
      }),
      [
        ...derivedFrom(cacheMetrics(this.stats.cacheName), (s: BlogSnapshot) => s.cache),
        ...derivedFrom(LIST_METRICS, (s: BlogSnapshot) => s.list),
      ],
    );
  }
}
