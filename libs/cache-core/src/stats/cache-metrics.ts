import type { DerivedMetric, ReplicaState, Sample } from '@app/common';
import type { PatternStatsExtras } from '../cache-strategy';
import type { NearCache } from '../near/near-cache';
import type { CacheStatsSnapshot } from './cache-stats';

/** Where loads after a miss were answered from, and how many replica rows were too old to use. */
export interface ReplicaLoadsSnapshot {
  fromReplica: number;
  fromPrimary: number;
  refusedReplicaRows: number;
  replicas: ReplicaState[];
}

/** What the cache metrics are derived from: the shared counters and the near cache's. */
export interface CacheMetricsSnapshot extends CacheStatsSnapshot {
  near: ReturnType<NearCache['snapshot']>;
  replicas: ReplicaLoadsSnapshot;
}

/** A number from a snapshot field that may be missing or null (Redis away): no sample then. */
export function sample(value: unknown, labels: Record<string, string> = {}): Sample[] | null {
  return typeof value === 'number' && Number.isFinite(value) ? [[labels, value]] : null;
}

/**
 * Micrometer's cache metrics (`cache_gets_total`, `cache_puts_total`, `cache_evictions_total`), plus Postgres
 * reads and writes and the near cache, derived from the same counters `GET /stats` shows. `cache` names the
 * records (`users`, `posts`); `cache_load_duration_seconds` is observed directly (see `CacheStats`).
 */
export function cacheMetrics(cache: string): DerivedMetric<CacheMetricsSnapshot>[] {
  return [
    {
      name: 'cache_gets_total',
      help: 'Cache reads by result: hit, miss (loaded and filled), bypass (loaded, cache not used), stale (a grace copy)',
      type: 'counter',
      labelNames: ['cache', 'result'],
      samples: (s) => [
        [{ cache, result: 'hit' }, s.hits],
        [{ cache, result: 'miss' }, s.misses],
        [{ cache, result: 'bypass' }, s.bypasses],
        [{ cache, result: 'stale' }, s.stale],
      ],
    },
    {
      name: 'cache_stale_gets_total',
      help: 'Grace copies answered past their TTL, by reason: stale_if_error (Postgres failed), soft_timeout (slow)',
      type: 'counter',
      labelNames: ['cache', 'reason'],
      samples: (s) => [
        [{ cache, reason: 'stale_if_error' }, s.staleIfError],
        [{ cache, reason: 'soft_timeout' }, s.staleSoftTimeout],
      ],
    },
    {
      name: 'cache_loads_total',
      help: 'Loads after a miss by where they were answered: replica, primary',
      type: 'counter',
      labelNames: ['cache', 'source'],
      samples: (s) => [
        [{ cache, source: 'replica' }, s.replicas.fromReplica],
        [{ cache, source: 'primary' }, s.replicas.fromPrimary],
      ],
    },
    {
      name: 'cache_replica_rows_refused_total',
      help: 'Rows a read replica answered that were older than a write the cache knows of (then read from the primary)',
      type: 'counter',
      labelNames: ['cache'],
      samples: (s) => sample(s.replicas.refusedReplicaRows, { cache }),
    },
    {
      name: 'database_replica_lag_seconds',
      help: "A read replica's replay lag behind the primary (absent while it does not answer)",
      type: 'gauge',
      labelNames: ['replica'],
      samples: (s) =>
        s.replicas.replicas.flatMap(({ url, lagMs }) => (lagMs === null ? [] : [[{ replica: url }, lagMs / 1000]])),
    },
    {
      name: 'database_replica_used',
      help: 'Whether reads go to a read replica (1) or skip it (0: down, or further behind than DATABASE_REPLICA_MAX_LAG_MS)',
      type: 'gauge',
      labelNames: ['replica'],
      samples: (s) => s.replicas.replicas.map(({ url, used }) => [{ replica: url }, used ? 1 : 0]),
    },
    {
      name: 'cache_near_hits_total',
      help: 'Hits answered by the in-process near cache (part of cache_gets_total{result="hit"})',
      type: 'counter',
      labelNames: ['cache'],
      samples: (s) => sample(s.nearHits, { cache }),
    },
    {
      name: 'cache_puts_total',
      help: 'Entries written to Redis',
      type: 'counter',
      labelNames: ['cache'],
      samples: (s) => sample(s.cacheWrites, { cache }),
    },
    {
      name: 'cache_evictions_total',
      help: 'Entries dropped: invalidation (a write or a change notification), near_invalidation (near cache)',
      type: 'counter',
      labelNames: ['cache', 'cause'],
      samples: (s) => [
        [{ cache, cause: 'invalidation' }, s.invalidations],
        [{ cache, cause: 'near_invalidation' }, s.near.drops],
      ],
    },
    {
      name: 'cache_errors_total',
      help: 'Cache operations that failed (Redis unreachable or timed out)',
      type: 'counter',
      labelNames: ['cache'],
      samples: (s) => sample(s.errors, { cache }),
    },
    {
      name: 'cache_database_reads_total',
      help: 'Reads that went to PostgreSQL',
      type: 'counter',
      labelNames: ['cache'],
      samples: (s) => sample(s.dbReads, { cache }),
    },
    {
      name: 'cache_database_writes_total',
      help: 'Rows written to PostgreSQL',
      type: 'counter',
      labelNames: ['cache'],
      samples: (s) => sample(s.dbWrites, { cache }),
    },
    {
      name: 'cache_near_size',
      help: 'Entries in the in-process near cache (0 when it is off)',
      type: 'gauge',
      labelNames: ['cache'],
      samples: (s) => sample(s.near.size, { cache }),
    },
  ];
}

/** A pattern's counter with no labels, from one field of its `statsExtras`. */
export function counter(
  name: string,
  help: string,
  value: (extras: PatternStatsExtras) => unknown,
): DerivedMetric<PatternStatsExtras> {
  return { name, help, type: 'counter', samples: (s) => sample(value(s)) };
}

/** A pattern's gauge with no labels, from one field of its `statsExtras`. */
export function gauge(
  name: string,
  help: string,
  value: (extras: PatternStatsExtras) => unknown,
): DerivedMetric<PatternStatsExtras> {
  return { name, help, type: 'gauge', samples: (s) => sample(value(s)) };
}
