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

/** Where a read was answered from: Redis (`HIT`), Postgres after a miss (`MISS`), Postgres because Redis is away (`BYPASS`). */
export type CacheOutcome = 'HIT' | 'MISS' | 'BYPASS';

export interface CacheRead<T> {
  /** The record, or null when it does not exist. */
  value: T | null;
  outcome: CacheOutcome;
  /** `near` for a hit answered by the in-process near cache, without asking Redis. */
  tier?: 'near';
}

/** The `X-Cache` header of a read: `HIT`, `MISS`, `BYPASS`, or `HIT; tier=near` for a near-cache hit. */
export function xCache(read: Pick<CacheRead<unknown>, 'outcome' | 'tier'>): string {
  return read.tier === 'near' ? 'HIT; tier=near' : read.outcome;
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
