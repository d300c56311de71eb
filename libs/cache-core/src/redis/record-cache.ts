import { CacheConfig } from '@app/common';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { randomBytes } from 'node:crypto';
import type { CacheableRecord } from '../cache-strategy';
import { NearCache } from '../near/near-cache';
import type { CommittedChange } from '../outbox/committed-change';
import { ChangeConfirmations } from '../outbox/change-confirmations';
import { ReadGate } from '../outbox/read-gate';
import { CacheStats } from '../stats/cache-stats';
import { CacheKeys } from './cache-keys';
import { OwedInvalidations } from './owed-invalidations';
import { RedisConnections } from './redis-connections';

/**
 * Result of looking a record up in Redis. A hit's `value` is null when the record is cached as absent; with
 * `withTtl`, a hit also says how many ms the entry has left. A miss holds the lease to fill the entry, or
 * `lease: null` when another reader held it for longer than this one would wait: load, but do not fill.
 */
export type CacheLookup<T> =
  | { kind: 'hit'; value: T | null; ttlMs?: number; tier?: 'near' }
  | { kind: 'miss'; lease: string | null }
  | { kind: 'unavailable' };

const UNAVAILABLE = { kind: 'unavailable' } as const;

/** Beyond this many unconfirmed invalidations, the whole app cache is cleared on reconnect instead. */
const MAX_OWED_INVALIDATIONS = 100_000;

/** Invalidations are replayed this many records per command. */
const REPLAY_BATCH = 500;

/** How long Redis remembers that a version's invalidation was applied (a later outbox apply of it is skipped). */
const MARKER_TTL_MS = 60_000;

/** How many of this instance's own successful invalidations are remembered, so the outbox need not repeat them. */
const APPLIED_HERE_LIMIT = 10_000;

/**
 * Provided (`true`) by a strategy module whose cache holds changes Postgres does not have yet (write-behind):
 * Postgres never has a newer version than its cache, so changes from the invalidation outbox never hold its reads.
 */
export const CACHE_LEADS = Symbol('CACHE_LEADS');

/** A lease someone else holds. */
const HELD = Symbol('held');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One app's records in Redis: entries, the leases that guard fills, tombstones of deleted records. A failed call
 * answers "unavailable" (or `failed`) instead of throwing, so callers fall back to Postgres. An invalidation
 * that could not reach Redis is remembered and applied before any read of that record is served from Redis
 * again, so nothing written while Redis was away is read stale afterwards.
 */
@Injectable()
export class RecordCache {
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenSequence = 0;
  private readonly owed: OwedInvalidations<number>;
  private readonly appliedHere = new LRUCache<number, number>({ max: APPLIED_HERE_LIMIT });
  /** The version each owed invalidation is for, when known: once paid, the outbox need not apply it again. */
  private readonly owedVersions = new Map<number, number>();
  /** Fills this instance makes under a lease it holds; its own readers that miss wait for them. */
  private readonly localFills = new Map<number, { lease: string; done: Promise<void>; end: () => void }>();
  private draining?: Promise<void>;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly config: CacheConfig,
    private readonly stats: CacheStats,
    private readonly gate: ReadGate,
    private readonly confirmations: ChangeConfirmations,
    private readonly near: NearCache,
    @Optional() @Inject(CACHE_LEADS) private readonly leads: boolean = false,
  ) {
    this.owed = new OwedInvalidations((ids) => this.replay(ids), MAX_OWED_INVALIDATIONS);
    redis.onReady(() => void this.drainOwed());
  }

  /** Calls `listener` with a record's id as soon as a change of it is announced (any instance's commit). */
  onChange(listener: (id: number) => void): void {
    this.confirmations.onNotified(listener);
  }

  /** True when reads may try Redis. */
  get available(): boolean {
    return this.redis.available;
  }

  /** True when writes may try Redis. */
  get writable(): boolean {
    return this.redis.writable;
  }

  /** The configured TTL, before jitter, in ms. */
  get fullTtlMs(): number {
    return this.config.ttlSeconds * 1000;
  }

  /** Cache TTL with jitter, in ms. */
  ttlMs(): number {
    return Math.round(this.config.ttlSeconds * 1000 * (1 - this.config.ttlJitter * Math.random()));
  }

  negativeTtlMs(): number {
    return this.config.negativeTtlSeconds * 1000;
  }

  /**
   * A hit, or a miss that holds the lease to fill the entry, or unavailable (go to Postgres, do not fill).
   * `withTtl` adds the entry's remaining TTL to a hit, in the same round trip, for strategies that act before
   * expiry.
   */
  async lookup<T extends CacheableRecord>(id: number, { withTtl = false } = {}): Promise<CacheLookup<T>> {
    if (!this.available) return UNAVAILABLE;
    // What this instance owes first: paying it also settles its changes as announced by the outbox.
    if (this.owed.any && !(await this.readable(id))) return UNAVAILABLE;
    if (!this.leads && ((!this.gate.open && !(await this.gate.opened())) || this.confirmations.isUnapplied(id))) {
      return UNAVAILABLE;
    }
    if (this.near.usable) {
      const near = this.near.get<T>(id);
      if (near !== undefined) return { kind: 'hit', value: near, tier: 'near' };
    }
    const epoch = this.near.epoch;
    try {
      const key = this.keys.entry(id);
      let raw: string | null;
      let ttlMs: number | undefined;
      if (withTtl) {
        const [ttl, value] = await this.redis.read((redis) => redis.entryWithTtl(key));
        raw = value;
        ttlMs = ttl;
      } else {
        raw = await this.redis.read((redis) => redis.get(key));
      }
      if (raw !== null) {
        const value = JSON.parse(raw) as T | null;
        this.near.set(id, value, epoch);
        return { kind: 'hit', value, ...(withTtl ? { ttlMs } : {}) };
      }
      const found = await this.leaseOrEntry<T>(id);
      return found === HELD ? await this.awaitFill<T>(id) : found;
    } catch (error) {
      this.failed(error);
      return UNAVAILABLE;
    }
  }

  /**
   * Takes the lease to refill `id` even if a reader holds it (a refresh ahead of expiry): any write before the
   * fill voids it, and the reader's own fill then fails harmlessly. Null when Redis is away.
   */
  async acquireLease(id: number): Promise<string | null> {
    if (!this.available) return null;
    const lease = this.newToken();
    try {
      await this.redis.read((redis) => redis.set(this.keys.lease(id), lease, 'PX', this.config.leaseTtlMs));
      return lease;
    } catch (error) {
      this.failed(error);
      return null;
    }
  }

  /**
   * Stores a loaded record (or null for "absent") if `lease` is still the entry's lease. False when it was not
   * stored: the lease was voided by a write (so the value may be older than that write) or held by another
   * reader, or Redis failed.
   */
  async fill<T extends CacheableRecord>(
    id: number,
    value: T | null,
    lease: string | null,
    ttlMs = this.ttlMs(),
  ): Promise<boolean> {
    if (lease === null) return false;
    try {
      return await this.fillUnderLease(id, value, lease, ttlMs);
    } finally {
      this.filled(id, lease);
    }
  }

  private async fillUnderLease<T extends CacheableRecord>(
    id: number,
    value: T | null,
    lease: string,
    ttlMs: number,
  ): Promise<boolean> {
    const epoch = this.near.epoch;
    try {
      const stored = await this.redis.read((redis) =>
        redis.fillIfLeased(this.keys.entry(id), this.keys.lease(id), lease, JSON.stringify(value), ttlMs),
      );
      if (stored === 1) {
        this.stats.countCacheWrite();
        this.near.set(id, value, epoch);
      }
      return stored === 1;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /**
   * Ends a miss: fills `value` under `lease`, or (no `value`: nothing to cache, or the load failed) lets the
   * lease go so the next reader need not wait for it. True when what was loaded is known to be current: it was
   * stored, or the lease was still this reader's when let go, so no write came in between.
   */
  async settle<T extends CacheableRecord>(
    id: number,
    lease: string | null,
    value?: T | null,
    ttlMs?: number,
  ): Promise<boolean> {
    if (lease === null) return false;
    if (value !== undefined) return this.fill(id, value, lease, ttlMs);
    try {
      return (await this.redis.reader.releaseLock(this.keys.lease(id), lease)) === 1;
    } catch (error) {
      this.failed(error);
      return false;
    } finally {
      this.filled(id, lease);
    }
  }

  /**
   * Stores `value` unless the cache already holds the same or a newer version, or the record was deleted
   * (`older`). Also drops any reader's lease, since `value` supersedes what they loaded. When Redis cannot be
   * reached (`failed`) the entry is invalidated later, so a stale copy cannot survive the outage.
   */
  async setIfNewer<T extends CacheableRecord>(value: T, ttlMs = this.ttlMs()): Promise<'stored' | 'older' | 'failed'> {
    const id = value.id;
    const since = Date.now();
    this.near.changed(id, value.version);
    if (this.writable) {
      try {
        const stored = await this.redis.writer.setIfNewer(
          this.keys.entry(id),
          this.keys.lease(id),
          this.keys.tombstone(id),
          this.keys.invalidated(id),
          JSON.stringify(value),
          ttlMs,
          value.version,
          MARKER_TTL_MS,
        );
        if (stored === 1) this.stats.countCacheWrite();
        this.appliedHereUpTo(id, value.version);
        return stored === 1 ? 'stored' : 'older';
      } catch (error) {
        this.failed(error);
      }
    }
    await this.owe(id, value.version, since);
    return 'failed';
  }

  /**
   * Deletes the entry and any reader's lease (`version`: the record's new version, when there is one). When Redis
   * cannot be reached, remembers to do it later, and waits a little for another instance to apply the change
   * from the outbox (see `ChangeConfirmations`).
   */
  async invalidate(id: number, version?: number): Promise<void> {
    const since = Date.now();
    this.near.changed(id, version);
    if (this.writable) {
      try {
        if (version === undefined) await this.redis.writer.del(this.keys.entry(id), this.keys.lease(id));
        else {
          const keys = [this.keys.entry(id), this.keys.lease(id), this.keys.invalidated(id)] as const;
          await this.redis.writer.invalidate(...keys, version, MARKER_TTL_MS);
        }
        this.stats.countInvalidation();
        this.settledOwed(id);
        if (version !== undefined) this.appliedHereUpTo(id, version);
        return;
      } catch (error) {
        this.failed(error);
      }
    }
    await this.owe(id, version, since);
  }

  /**
   * Write-behind accepted a change of `id` here (`record`: the new version; null: deleted). The near cache holds
   * it before the write answers; other instances hear of it on the Redis channel the accept script published to.
   */
  acceptedHere<T extends CacheableRecord>(id: number, record: T | null): void {
    if (record === null) {
      this.near.changed(id, undefined, 'D');
      return;
    }
    this.near.changed(id, record.version);
    this.near.set(id, record);
    // The accept script left this version in Redis: when its flush comes back through the outbox, there is
    // nothing older here to drop, so this instance does not send Redis a script per flushed row to learn so.
    // (Only this map: the cache leads, so reads never wait for the outbox's confirmations.)
    this.rememberApplied(id, record.version);
  }

  /** Invalidates and leaves a tombstone for a cache TTL, so late writes of the deleted record are refused. */
  async markDeleted(id: number): Promise<void> {
    const since = Date.now();
    this.near.changed(id, undefined, 'D');
    if (this.writable) {
      try {
        await this.redis.writer
          .multi()
          .del(this.keys.entry(id), this.keys.lease(id))
          .set(this.keys.tombstone(id), '1', 'PX', this.fullTtlMs)
          .exec();
        this.stats.countInvalidation();
        this.settledOwed(id);
        // Ids are never reused: no later change of this record exists for the outbox to apply here.
        this.appliedHereUpTo(id, Number.MAX_SAFE_INTEGER);
        return;
      } catch (error) {
        this.failed(error);
      }
    }
    await this.owe(id, undefined, since);
  }

  /**
   * Applies changes from the invalidation outbox: each entry older than its change is dropped (with its lease; a
   * deletion leaves a tombstone), newer ones stay. Returns the changes applied now: not those this instance
   * applied itself, nor those Redis says were applied already (by their writer or another instance), so what
   * derives from them is not invalidated twice. Throws when Redis fails.
   */
  async applyChanges(changes: CommittedChange[]): Promise<CommittedChange[]> {
    for (const change of changes) this.near.changed(change.id, change.version, change.operation);
    const due = changes.filter((change) => (this.appliedHere.peek(change.id) ?? 0) < change.version);
    const results = await Promise.all(
      due.map((change) =>
        this.redis.writer.invalidateOlder(
          this.keys.entry(change.id),
          this.keys.lease(change.id),
          this.keys.tombstone(change.id),
          this.keys.invalidated(change.id),
          change.version,
          change.operation,
          this.fullTtlMs,
          MARKER_TTL_MS,
        ),
      ),
    );
    for (const change of due) this.settledOwed(change.id);
    const appliedNow = due.filter((_, index) => results[index] === 1);
    if (appliedNow.length > 0) this.stats.countInvalidation();
    return appliedNow;
  }

  /** True when the record's tombstone is there. Throws when Redis fails. */
  async isDeleted(id: number): Promise<boolean> {
    return (await this.redis.reader.exists(this.keys.tombstone(id))) === 1;
  }

  /**
   * The record as the write path last left it: its entry and whether it has a tombstone, in one round trip on
   * the write connection. Throws when Redis fails.
   */
  async latest<T extends CacheableRecord>(id: number): Promise<{ value: T | null; deleted: boolean }> {
    const [row, tombstone] = await this.redis.writer.mget(this.keys.entry(id), this.keys.tombstone(id));
    return { value: row ? (JSON.parse(row) as T) : null, deleted: Boolean(tombstone) };
  }

  /**
   * Each entry's remaining TTL in ms (-2 when absent, -1 when it has none, null when unknown). Sent at once, one
   * command per entry, since the entries may live on different cluster nodes.
   */
  remainingTtls(ids: number[]): Promise<(number | null)[]> {
    return Promise.all(ids.map((id) => this.redis.reader.pttl(this.keys.entry(id)).catch(() => null)));
  }

  /**
   * Deletes every key of this app (SCAN by prefix on every master, never KEYS; UNLINK one key per command, since
   * a cluster refuses multi-key commands across slots); returns how many.
   */
  async clear(): Promise<number> {
    let removed = 0;
    for (const node of this.redis.scanTargets()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', this.keys.everything(), 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        for (const [error, count] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          removed += count as number;
        }
      } while (cursor !== '0');
    }
    this.owed.forgive();
    this.near.clear();
    this.owedVersions.clear();
    this.appliedHere.clear();
    return removed;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** Counts a failed cache command; the caller degrades to Postgres. */
  failed(error: unknown): void {
    this.redis.failed(error);
  }

  /**
   * The memcache lease rule across instances: only the first reader of a missing entry gets the lease (SET NX);
   * the others wait for its fill, so a cold key read through many instances reaches Postgres about once.
   */
  private async leaseOrEntry<T extends CacheableRecord>(id: number): Promise<CacheLookup<T> | typeof HELD> {
    const lease = this.newToken();
    const epoch = this.near.epoch;
    const [found, entry] = await this.redis.read((redis) =>
      redis.leaseOrEntry(this.keys.entry(id), this.keys.lease(id), lease, this.config.leaseTtlMs),
    );
    if (found === 'hit') {
      const value = JSON.parse(entry!) as T | null;
      this.near.set(id, value, epoch);
      return { kind: 'hit', value };
    }
    if (found !== 'lease') return HELD;
    let end: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (end = resolve));
    this.localFills.get(id)?.end();
    this.localFills.set(id, { lease, done, end });
    return { kind: 'miss', lease };
  }

  /** The fill (or release) under `lease` is over: this instance's readers waiting for it look again. */
  private filled(id: number, lease: string): void {
    const fill = this.localFills.get(id);
    if (fill?.lease !== lease) return;
    this.localFills.delete(id);
    fill.end();
  }

  /**
   * Polls for another reader's fill (after 5, 10, 20, then every 50 ms, up to `CACHE_LEASE_WAIT_MS`): bounded, so a lease holder
   * that died (its lease lives 10 s) cannot stall reads. Takes the lease itself once it is gone (its holder gave
   * up, or a write voided it); past the wait, a miss without lease.
   */
  private async awaitFill<T extends CacheableRecord>(id: number): Promise<CacheLookup<T>> {
    const deadline = Date.now() + this.config.leaseWaitMs;
    const local = this.localFills.get(id);
    if (local !== undefined) {
      // The lease holder is this instance: wait for its fill to end rather than poll, then look again.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        local.done,
        new Promise((resolve) => (timer = setTimeout(resolve, this.config.leaseWaitMs))),
      ]);
      clearTimeout(timer);
      const found = await this.leaseOrEntry<T>(id);
      if (found !== HELD) return found;
    }
    for (let delay = 5; Date.now() + delay <= deadline; delay = Math.min(2 * delay, 50)) {
      await sleep(delay);
      const found = await this.leaseOrEntry<T>(id);
      if (found !== HELD) return found;
    }
    return { kind: 'miss', lease: null };
  }

  /** An invalidation that could not reach Redis: owed here, and given a moment to be applied by another instance. */
  private async owe(id: number, version: number | undefined, since: number): Promise<void> {
    this.owed.add(id);
    if (version !== undefined && version > (this.owedVersions.get(id) ?? 0)) this.owedVersions.set(id, version);
    await this.confirmations.wait(id, version, since);
  }

  /** An invalidation of `id` reached Redis: nothing of it is owed any more. */
  private settledOwed(id: number): void {
    this.owed.settled(id);
    this.owedVersions.delete(id);
  }

  private appliedHereUpTo(id: number, version: number): void {
    this.confirmations.applied(id, version);
    this.rememberApplied(id, version);
  }

  private rememberApplied(id: number, version: number): void {
    this.appliedHere.set(id, version);
  }

  private newToken(): string {
    return `${this.tokenPrefix}:${(this.tokenSequence += 1)}`;
  }

  /** False when Redis is down, or when an invalidation of this record (or of everything) is still owed. */
  private async readable(id: number): Promise<boolean> {
    if (!this.available) return false;
    if (this.owed.any) await this.drainOwed();
    return !this.owed.owes(id);
  }

  private drainOwed(): Promise<void> {
    this.draining ??= this.payOwed().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async payOwed(): Promise<void> {
    if (!this.available) return;
    try {
      await this.owed.pay();
    } catch (error) {
      this.failed(error);
    }
  }

  private async replay(ids: number[] | 'everything'): Promise<void> {
    if (ids === 'everything') {
      await this.clear();
      return;
    }
    for (let start = 0; start < ids.length; start += REPLAY_BATCH) {
      const batch = ids.slice(start, start + REPLAY_BATCH);
      // One command per record: an entry and its lease share a slot, different records may not.
      await Promise.all(batch.map((id) => this.redis.reader.del(this.keys.entry(id), this.keys.lease(id))));
      for (const id of batch) {
        const version = this.owedVersions.get(id);
        this.settledOwed(id);
        if (version !== undefined) this.appliedHereUpTo(id, version);
      }
      this.stats.countInvalidation();
    }
  }
}
