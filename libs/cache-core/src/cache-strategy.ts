import type {
  CachingPattern,
  DerivedMetric,
  IdempotencyClaim,
  IdempotencyLedger,
  StoredOutcome,
  WriteOptions,
} from '@app/common';

/** A pattern (see `CACHING_PATTERNS` in `@app/common`), or `no-cache`: the baseline the benchmark compares them with. */
export type PatternName = CachingPattern | 'no-cache';

/** What a strategy can cache: a record with a numeric id and a version that every update increments. */
export interface CacheableRecord {
  id: number;
  version: number;
}

/**
 * Where a read was answered from: Redis (`HIT`), Postgres after a miss (`MISS`), Postgres because Redis is away
 * (`BYPASS`), or a grace copy past its TTL because Postgres failed or was slow (`STALE`).
 */
export type CacheOutcome = 'HIT' | 'MISS' | 'BYPASS' | 'STALE';

/** Why a grace copy was answered: the load failed (`stale-if-error`) or took longer than the soft timeout. */
export type StaleReason = 'stale-if-error' | 'soft-timeout';

export interface CacheRead<T> {
  /** The record, or null when it does not exist. */
  value: T | null;
  outcome: CacheOutcome;
  /** `near` for a hit answered by the in-process near cache, without asking Redis. */
  tier?: 'near';
  /** A hit: how long the entry stays fresh, in ms. A stale answer: minus how long it has been stale. */
  ttlMs?: number;
  /** A miss: the loaded record was stored in Redis. */
  stored?: boolean;
  /** The read shared another read's load (the same key read at the same time in this process). */
  collapsed?: boolean;
  /** A stale answer: why the grace copy was answered. */
  staleReason?: StaleReason;
}

/** The `X-Cache` header of a read: `HIT`, `MISS`, `BYPASS`, `STALE`, or `HIT; tier=near` for a near-cache hit. */
export function xCache(read: Pick<CacheRead<unknown>, 'outcome' | 'tier'>): string {
  return read.tier === 'near' ? 'HIT; tier=near' : read.outcome;
}

/**
 * The RFC 9211 `Cache-Status` header of a read, the cache named by `cache` (the pattern): `cache-aside; hit;
 * ttl=42`, `cache-aside; fwd=miss; stored`, `cache-aside; fwd=miss; collapsed`, `cache-aside; fwd=bypass`, or a
 * grace copy answered `cache-aside; hit; fwd=stale; ttl=-3; detail=stale-if-error` (or `detail=soft-timeout`).
 */
export function cacheStatus(cache: string, read: Omit<CacheRead<unknown>, 'value'>): string {
  const ttl = read.ttlMs === undefined ? '' : `; ttl=${Math.floor(read.ttlMs / 1000)}`;
  switch (read.outcome) {
    case 'HIT':
      return `${cache}; hit${read.tier === 'near' ? '; detail=near' : ttl}`;
    case 'STALE':
      return `${cache}; hit; fwd=stale${ttl}; detail=${read.staleReason ?? 'stale-if-error'}`;
    case 'MISS':
      return `${cache}; fwd=miss${read.stored ? '; stored' : ''}${read.collapsed ? '; collapsed' : ''}`;
    case 'BYPASS':
      return `${cache}; fwd=bypass${read.collapsed ? '; collapsed' : ''}`;
  }
}

/**
 * The headers that say how a read was answered: `X-Cache` (kept for older clients), `Cache-Status` (RFC 9211),
 * and for a stale answer `Age`: seconds since the copy was stored, counting the TTL before jitter.
 */
export function readHeaders(
  cache: string,
  read: Omit<CacheRead<unknown>, 'value'>,
  ttlSeconds: number,
): Record<string, string> {
  const headers: Record<string, string> = { 'X-Cache': xCache(read), 'Cache-Status': cacheStatus(cache, read) };
  if (read.outcome === 'STALE' && read.ttlMs !== undefined) {
    headers.Age = String(Math.max(0, Math.round(ttlSeconds - read.ttlMs / 1000)));
  }
  return headers;
}

/**
 * One caching pattern over one kind of record: the only way application code reads or writes those records.
 * Each app binds exactly one implementation, through that strategy's module (`CacheAsideModule`, ...: their
 * `strategyProviders()` provide it as this class), and injects it by this class. Every implementation passes the same contract suite (`test/contract`): after a write is acknowledged,
 * every read returns that write or a later one; a missing record reads as null; Redis being away never fails a read.
 */
export abstract class CacheStrategy<
  T extends CacheableRecord = CacheableRecord,
  C = unknown,
  U = unknown,
> implements IdempotencyLedger {
  abstract readonly pattern: PatternName;

  abstract get(id: number): Promise<CacheRead<T>>;

  /** `options.idempotency`: the answer is recorded atomically with the write (see `WriteOptions`). */
  abstract create(input: C, options?: WriteOptions<T>): Promise<T>;

  /**
   * Applies `changes` (a full replacement or any subset of fields); throws `NotFoundError` for a missing id and
   * `PreconditionFailedError` when `options.ifMatch` does not name the current version (checked atomically).
   */
  abstract update(id: number, changes: U, options?: WriteOptions<T>): Promise<T>;

  /** Throws `NotFoundError` for a missing id, `PreconditionFailedError` as {@link update}. */
  abstract remove(id: number, options?: WriteOptions<T>): Promise<void>;

  /** The answer stored for an idempotent write, where this pattern stores them. */
  abstract storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null>;

  /** Counters that belong to this pattern only, merged into `GET /stats`. */
  statsExtras(): Record<string, number | string | null> | Promise<Record<string, number | string | null>> {
    return {};
  }

  /** This pattern's own Prometheus metrics, derived from {@link statsExtras} (one source of truth). */
  extraMetrics(): DerivedMetric<PatternStatsExtras>[] {
    return [];
  }
}

/** What {@link CacheStrategy.statsExtras} returns. */
export type PatternStatsExtras = Record<string, number | string | null>;
