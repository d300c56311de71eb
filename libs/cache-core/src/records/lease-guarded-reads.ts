import { CacheConfig } from '@app/common';
import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { CacheableRecord } from '../cache-strategy';
import { NearCache } from '../near/near-cache';
import { CacheKeys } from '../redis/cache-keys';
import { RedisConnections } from '../redis/redis-connections';
import { CacheStats } from '../stats/cache-stats';
import { EntryTtls } from './entry-ttls';

/** A grace copy: the entry as it was past its TTL, and for how long it has been stale. */
export interface StaleCopy<T> {
  value: T;
  /** How long ago its TTL ended, in ms. */
  staleForMs: number;
}

/**
 * Result of looking a record up in Redis. A hit's `value` is null when the record is cached as absent; with
 * `withTtl`, a hit also says how many ms the entry stays fresh. A miss holds the lease to fill the entry, or
 * `lease: null` when another reader held it for longer than this one would wait: load, but do not fill. A miss
 * carries the entry's grace copy when it is there (`stale`): what to answer if Postgres fails or is slow.
 */
/**
 * What a row loaded after a miss must be at least as new as: the highest version whose invalidation reached
 * Redis lately (kept `MARKER_TTL_MS`), and whether the record was deleted. A write's invalidation leaves it before
 * the write answers, so a row older than it (from a read replica that has not replayed the write yet) is not
 * current.
 */
export interface Floor {
  version: number;
  deleted: boolean;
}

export type CacheLookup<T> =
  | { kind: 'hit'; value: T | null; ttlMs?: number; tier?: 'near' }
  | { kind: 'miss'; lease: string | null; stale?: StaleCopy<T>; floor?: Floor }
  | { kind: 'unavailable'; copy?: () => Promise<StaleCopy<T> | undefined> };

export const UNAVAILABLE = { kind: 'unavailable' } as const;

/** A lease someone else holds, with the entry's grace copy if there is one. */
interface Held<T> {
  kind: 'held';
  stale?: StaleCopy<T>;
  floor: Floor;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The read side of the memcache lease protocol. A miss takes the record's lease (SET NX) or waits for whoever
 * holds it; the lease holder loads from Postgres and stores the row only while its lease is still there, since
 * every write deletes the lease: a load that raced a write is never stored. Each call degrades to "unavailable"
 * (or false) when Redis fails.
 */
@Injectable()
export class LeaseGuardedReads {
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenSequence = 0;
  /** Fills this instance makes under a lease it holds; its own readers that miss wait for them. */
  private readonly localFills = new Map<number, { lease: string; done: Promise<void>; end: () => void }>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly config: CacheConfig,
    private readonly stats: CacheStats,
    private readonly near: NearCache,
    private readonly ttls: EntryTtls,
  ) {}

  /** The near cache, then the entry (with its TTL when asked), then the lease or another reader's fill. */
  async lookup<T extends CacheableRecord>(id: number, withTtl: boolean): Promise<CacheLookup<T>> {
    if (this.near.usable) {
      const near = this.near.get<T>(id);
      if (near !== undefined) return { kind: 'hit', value: near, tier: 'near' };
    }
    const epoch = this.near.epoch;
    return this.redis.attempt(
      async (): Promise<CacheLookup<T>> => {
        if (this.ttls.graceMs > 0) {
          const fresh = await this.freshEntry<T>(id, epoch);
          if (fresh !== undefined) return fresh;
          const found = await this.leaseOrEntry<T>(id, epoch);
          return found.kind === 'held' ? await this.awaitFill<T>(id, found.floor, found.stale) : found;
        }
        const key = this.keys.entry(id);
        const [ttlMs, raw] = withTtl
          ? await this.redis.read((redis) => redis.entryWithTtl(key))
          : [undefined, await this.redis.read((redis) => redis.get(key))];
        if (raw !== null) {
          const value = JSON.parse(raw) as T | null;
          this.near.set(id, value, epoch);
          return { kind: 'hit', value, ...(withTtl ? { ttlMs } : {}) };
        }
        const found = await this.leaseOrEntry<T>(id, this.near.epoch);
        return found.kind === 'held' ? await this.awaitFill<T>(id, found.floor) : found;
      },
      () => UNAVAILABLE,
    );
  }

  /**
   * The entry as it is, fresh or stale, as a copy to answer when Postgres fails (undefined when there is none,
   * when it says "absent", or when Redis fails). Reads no near cache and takes no lease.
   */
  async copy<T extends CacheableRecord>(id: number): Promise<StaleCopy<T> | undefined> {
    return this.redis.attempt(
      async () => {
        const [ttlMs, raw] = await this.redis.read((redis) => redis.entryWithTtl(this.keys.entry(id)));
        if (raw === null || raw === 'null') return undefined;
        const staleForMs = ttlMs < 0 ? 0 : Math.max(0, this.ttls.graceMs - ttlMs);
        return { value: JSON.parse(raw) as T, staleForMs };
      },
      () => undefined,
    );
  }

  /**
   * Takes the lease to refill `id` even if a reader holds it (a refresh ahead of expiry): any write before the
   * fill voids it, and the reader's own fill then fails harmlessly. With the record's floor, as a miss gets it
   * (`refresh-lease-3.lua`), so the refresh may load from a replica. Null when Redis is away.
   */
  async acquireLease(id: number): Promise<{ lease: string; floor: Floor } | null> {
    if (!this.redis.available) return null;
    const lease = this.newToken();
    return this.redis.attempt(
      async () => {
        const [floorVersion, deleted] = await this.redis.read((redis) =>
          redis.refreshLease(
            this.keys.lease(id),
            this.keys.invalidated(id),
            this.keys.tombstone(id),
            lease,
            this.config.leaseTtlMs,
          ),
        );
        return { lease, floor: { version: Number(floorVersion ?? 0) || 0, deleted: deleted === 1 } };
      },
      () => null,
    );
  }

  /**
   * Stores a loaded record (or null for "absent") if `lease` is still the entry's lease. False when it was not
   * stored: the lease was voided by a write (so the value may be older than that write) or held by another
   * reader, or Redis failed.
   */
  async fill<T extends CacheableRecord>(id: number, value: T | null, lease: string, ttlMs: number): Promise<boolean> {
    const epoch = this.near.epoch;
    try {
      const stored = await this.redis.attempt(
        () =>
          this.redis.read((redis) =>
            redis.fillIfLeased(
              this.keys.entry(id),
              this.keys.lease(id),
              lease,
              JSON.stringify(value),
              this.ttls.stored(value, ttlMs),
            ),
          ),
        () => 0,
      );
      if (stored === 1) {
        this.stats.countCacheWrite();
        this.near.set(id, value, epoch);
      }
      return stored === 1;
    } finally {
      this.leaseEnded(id, lease);
    }
  }

  /** Lets `lease` go unused, so the next reader need not wait for it. True when it was still this reader's. */
  async release(id: number, lease: string): Promise<boolean> {
    try {
      const released = await this.redis.attempt(
        () => this.redis.reader.releaseLock(this.keys.lease(id), lease),
        () => 0,
      );
      return released === 1;
    } finally {
      this.leaseEnded(id, lease);
    }
  }

  /**
   * The memcache lease rule across instances: only the first reader of a missing entry gets the lease (SET NX);
   * the others wait for its fill, so a cold key read through many instances reaches Postgres about once. With
   * grace copies, a stale entry counts as missing, and comes back with the lease (or the wait) as `stale`.
   */
  /**
   * A fresh entry by a plain `GET` and `PTTL`, sent together (one round trip), or undefined: missing, stale (at
   * most the grace left) or gone between the two, for `lookup-with-grace` to settle atomically with the lease.
   * Not a script, because most reads are hits: the script cost Redis 20.8 µs of CPU per hit against 8.3 for the
   * two commands, and the app 155 µs against 127 (cache-aside on Fastify, warm Zipf reads, 32 connections).
   * The two are not atomic, and need not be: a write between them makes this the read just before it, as a plain
   * `GET` would be; an entry whose TTL moved on is at worst one more trip through the script.
   */
  private async freshEntry<T extends CacheableRecord>(id: number, epoch: number): Promise<CacheLookup<T> | undefined> {
    const key = this.keys.entry(id);
    const [raw, remainingMs] = await this.redis.read((redis) => Promise.all([redis.get(key), redis.pttl(key)]));
    if (raw === null || remainingMs === -2) return undefined;
    if (raw !== 'null' && remainingMs >= 0 && remainingMs <= this.ttls.graceMs) return undefined;
    const value = JSON.parse(raw) as T | null;
    this.near.set(id, value, epoch);
    return { kind: 'hit', value, ttlMs: this.ttls.freshFor(remainingMs, value) };
  }

  private async leaseOrEntry<T extends CacheableRecord>(id: number, epoch: number): Promise<CacheLookup<T> | Held<T>> {
    const lease = this.newToken();
    const entryKey = this.keys.entry(id);
    const leaseKey = this.keys.lease(id);
    const { leaseTtlMs } = this.config;
    const graceMs = this.ttls.graceMs;
    const marker = this.keys.invalidated(id);
    const tombstone = this.keys.tombstone(id);
    let found: 'hit' | 'lease' | 'held';
    let entry: string | null;
    let ttlMs = -2;
    let floorVersion: string | null | undefined;
    let deleted: number | undefined;
    if (graceMs > 0) {
      [found, entry, ttlMs, floorVersion, deleted] = await this.redis.read((redis) =>
        redis.lookupWithGrace(entryKey, leaseKey, marker, tombstone, lease, leaseTtlMs, graceMs),
      );
    } else {
      [found, entry, floorVersion, deleted] = await this.redis.read((redis) =>
        redis.leaseOrEntry(entryKey, leaseKey, marker, tombstone, lease, leaseTtlMs),
      );
    }
    if (found === 'hit') {
      const value = JSON.parse(entry!) as T | null;
      this.near.set(id, value, epoch);
      return { kind: 'hit', value, ...(graceMs > 0 ? { ttlMs: this.ttls.freshFor(Number(ttlMs), value) } : {}) };
    }
    const stale: StaleCopy<T> | undefined =
      typeof entry === 'string' ? { value: JSON.parse(entry) as T, staleForMs: graceMs - Number(ttlMs) } : undefined;
    const floor: Floor = { version: Number(floorVersion ?? 0) || 0, deleted: deleted === 1 };
    if (found !== 'lease') return { kind: 'held', stale, floor };
    let end: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (end = resolve));
    this.localFills.get(id)?.end();
    this.localFills.set(id, { lease, done, end });
    return { kind: 'miss', lease, stale, floor };
  }

  /** The fill (or release) under `lease` is over: this instance's readers waiting for it look again. */
  private leaseEnded(id: number, lease: string): void {
    const fill = this.localFills.get(id);
    if (fill?.lease !== lease) return;
    this.localFills.delete(id);
    fill.end();
  }

  /**
   * Polls for another reader's fill (after 5, 10, 20, then every 50 ms, up to `CACHE_LEASE_WAIT_MS`, or with a
   * grace copy up to `CACHE_SOFT_TIMEOUT_MS`): bounded, so a lease holder that died (its lease lives 10 s) cannot
   * stall reads. Takes the lease itself once it is gone (its holder gave up, or a write voided it); past the
   * wait, a miss without lease (with the grace copy, if any, to answer instead).
   */
  private async awaitFill<T extends CacheableRecord>(
    id: number,
    first: Floor,
    stale?: StaleCopy<T>,
  ): Promise<CacheLookup<T>> {
    const waitMs =
      stale === undefined ? this.config.leaseWaitMs : Math.min(this.config.leaseWaitMs, this.config.softTimeoutMs);
    const deadline = Date.now() + waitMs;
    let latest = stale;
    let floor = first;
    const local = this.localFills.get(id);
    if (local !== undefined) {
      // The lease holder is this instance: wait for its fill to end rather than poll, then look again.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([local.done, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
      const found = await this.leaseOrEntry<T>(id, this.near.epoch);
      if (found.kind !== 'held') return found;
      latest = found.stale;
      floor = found.floor;
    }
    for (let delay = 5; Date.now() + delay <= deadline; delay = Math.min(2 * delay, 50)) {
      await sleep(delay);
      const found = await this.leaseOrEntry<T>(id, this.near.epoch);
      if (found.kind !== 'held') return found;
      latest = found.stale;
      floor = found.floor;
    }
    return { kind: 'miss', lease: null, stale: latest, floor };
  }

  private newToken(): string {
    return `${this.tokenPrefix}:${(this.tokenSequence += 1)}`;
  }
}
