import { CacheConfig } from '@app/common';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { CACHE_TOPOLOGY, type CacheTopology, SPREAD_TOPOLOGY } from '../cache-topology';

/**
 * How long Redis remembers that a version's invalidation was applied: a later outbox apply of it is skipped, and a
 * row loaded from a read replica older than it is refused (so it must outlive the largest replica lag accepted,
 * `DATABASE_REPLICA_MAX_LAG_MS`, at most 50 s).
 */
export const MARKER_TTL_MS = 60_000;

/**
 * How long the records' entries live: `CACHE_TTL_SECONDS` with jitter, then `CACHE_GRACE_SECONDS` more as a
 * grace copy (a stale entry, answered only when Postgres fails or is slow), and the shorter TTL of "absent",
 * which gets no grace. An entry whose remaining TTL is at most the grace is stale. Write-behind keeps no grace
 * copies: its cache leads Postgres, and its entries are what Postgres has not yet got.
 */
@Injectable()
export class EntryTtls {
  /** The grace added to a record's entry, in ms (0: none). */
  readonly graceMs: number;

  constructor(
    private readonly config: CacheConfig,
    @Optional() @Inject(CACHE_TOPOLOGY) topology: CacheTopology = SPREAD_TOPOLOGY,
  ) {
    this.graceMs = topology.cacheLeadsDatabase ? 0 : config.graceSeconds * 1000;
  }

  /** The configured TTL, before jitter, in ms. */
  get fullMs(): number {
    return this.config.ttlSeconds * 1000;
  }

  /** A deleted record's tombstone: as long as an entry, and at least as long as an invalidation's marker. */
  get tombstoneMs(): number {
    return Math.max(this.fullMs, MARKER_TTL_MS);
  }

  /** An entry's TTL in ms, shortened by up to `CACHE_TTL_JITTER` so entries filled together expire apart. */
  jittered(): number {
    return Math.round(this.config.ttlSeconds * 1000 * (1 - this.config.ttlJitter * Math.random()));
  }

  /** The TTL of a record cached as absent, in ms. */
  negativeMs(): number {
    return this.config.negativeTtlSeconds * 1000;
  }

  /** What Redis is told for an entry fresh for `ttlMs`: the grace on top, unless it caches "absent". */
  stored(value: unknown, ttlMs: number): number {
    return value === null ? ttlMs : ttlMs + this.graceMs;
  }

  /** How long an entry with `remainingMs` left in Redis stays fresh: negative once stale; -1/-2 as Redis says. */
  freshFor(remainingMs: number, value: unknown): number {
    return remainingMs < 0 || value === null ? remainingMs : remainingMs - this.graceMs;
  }
}
