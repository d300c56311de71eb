import { CacheConfig, type ReadSource } from '@app/common';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { CACHE_TOPOLOGY, type CacheTopology, SPREAD_TOPOLOGY } from '../cache-topology';
import type { CacheableRecord } from '../cache-strategy';
import { ChangeConfirmations } from '../outbox/change-confirmations';
import type { CommittedChange } from '../outbox/committed-change';
import { ReadGate } from '../outbox/read-gate';
import { CacheKeys } from '../redis/cache-keys';
import { RedisConnections } from '../redis/redis-connections';
import { EntryTtls } from './entry-ttls';
import { InvalidationDebt } from './invalidation-debt';
import { type CacheLookup, type Floor, LeaseGuardedReads, UNAVAILABLE } from './lease-guarded-reads';
import { RecordEntries } from './record-entries';
import { ReplicaLoads } from './replica-loads';
import { VersionedWrites } from './versioned-writes';

export type { CacheLookup } from './lease-guarded-reads';

/**
 * One app's records in Redis, as the strategies use them: entries, the leases that guard fills
 * ({@link LeaseGuardedReads}), versioned writes and tombstones ({@link VersionedWrites}), what is owed after an
 * outage ({@link InvalidationDebt}) and the outbox's changes ({@link RecordEntries}). A failed call answers
 * "unavailable" (or false) instead of throwing, so callers fall back to Postgres, unless it says it throws.
 */
@Injectable()
export class RecordCache {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly ttls: EntryTtls,
    private readonly gate: ReadGate,
    private readonly confirmations: ChangeConfirmations,
    private readonly debt: InvalidationDebt,
    private readonly reads: LeaseGuardedReads,
    private readonly writes: VersionedWrites,
    private readonly entries: RecordEntries,
    private readonly replicaLoads: ReplicaLoads,
    private readonly config: CacheConfig,
    @Optional() @Inject(CACHE_TOPOLOGY) private readonly topology: CacheTopology = SPREAD_TOPOLOGY,
  ) {}

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
    return this.ttls.fullMs;
  }

  /** Cache TTL with jitter, in ms. */
  ttlMs(): number {
    return this.ttls.jittered();
  }

  negativeTtlMs(): number {
    return this.ttls.negativeMs();
  }

  /** Calls `listener` with a record's id as soon as a change of it is announced (any instance's commit). */
  onChange(listener: (id: number) => void): void {
    this.confirmations.onNotified(listener);
  }

  /**
   * A hit, or a miss that holds the lease to fill the entry, or unavailable (go to Postgres, do not fill): also
   * while this instance owes an invalidation of the record, or (unless the cache leads the database) while a
   * committed change of it is announced and not yet applied. While this instance cannot know which records
   * changed lately (its outbox feed is down, or a catch-up has not learnt yet what it missed), unavailable comes
   * with `copy`: the entry, to answer only if Postgres fails. `withTtl` adds the entry's remaining TTL to a hit.
   */
  async lookup<T extends CacheableRecord>(id: number, { withTtl = false } = {}): Promise<CacheLookup<T>> {
    if (!this.available) return UNAVAILABLE;
    // What this instance owes first: paying it also settles its changes as announced by the outbox.
    if (this.debt.any && !(await this.debt.readable(id))) return UNAVAILABLE;
    if (!this.topology.cacheLeadsDatabase) {
      const open = await this.gateOpen();
      if (this.confirmations.isUnapplied(id)) return UNAVAILABLE;
      // Not knowing what changed lately: Postgres first, and the entry only if Postgres fails.
      if (!open || !this.gate.listening) return { kind: 'unavailable', copy: () => this.reads.copy<T>(id) };
    }
    return this.reads.lookup<T>(id, withTtl);
  }

  /** See {@link ReplicaLoads.load}: a load after a miss, from a replica when `floor` says what it must meet. */
  load<T extends CacheableRecord>(
    floor: Floor | undefined,
    find: (from?: ReadSource) => Promise<T | null>,
    signal?: AbortSignal,
  ): Promise<T | null> {
    // Write-behind's Postgres trails its cache: what a miss there loads is read where the flushes land.
    return this.topology.cacheLeadsDatabase
      ? this.replicaLoads.fromPrimary(find, signal)
      : this.replicaLoads.load(floor, find, signal);
  }

  /** A load that does not use Redis: from the primary, cancelled in Postgres when `signal` aborts. */
  loadFromPrimary<T extends CacheableRecord>(
    find: (from?: ReadSource) => Promise<T | null>,
    signal?: AbortSignal,
  ): Promise<T | null> {
    return this.replicaLoads.fromPrimary(find, signal);
  }

  /** See {@link LeaseGuardedReads.acquireLease}. */
  acquireLease(id: number): Promise<{ lease: string; floor: Floor } | null> {
    return this.reads.acquireLease(id);
  }

  /** Stores `value` (null: absent) under `lease`; false when the lease was voided or Redis failed. */
  async fill<T extends CacheableRecord>(
    id: number,
    value: T | null,
    lease: string | null,
    ttlMs = this.ttlMs(),
  ): Promise<boolean> {
    return lease === null ? false : this.reads.fill(id, value, lease, ttlMs);
  }

  /**
   * Ends a miss: fills `value` under `lease`, or (no `value`: nothing to cache, or the load failed) lets the
   * lease go so the next reader need not wait for it. True when what was loaded is known to be current: it was
   * stored, or the lease was still this reader's when let go, so no write came in between.
   */
  async endMiss<T extends CacheableRecord>(
    id: number,
    lease: string | null,
    value?: T | null,
    ttlMs?: number,
  ): Promise<boolean> {
    if (lease === null) return false;
    return value === undefined ? this.reads.release(id, lease) : this.fill(id, value, lease, ttlMs);
  }

  /** See {@link VersionedWrites.setIfNewer}. */
  setIfNewer<T extends CacheableRecord>(value: T, ttlMs = this.ttlMs()): Promise<'stored' | 'older' | 'failed'> {
    return this.writes.setIfNewer(value, ttlMs);
  }

  /** See {@link VersionedWrites.invalidate}. */
  invalidate(id: number, version?: number): Promise<void> {
    return this.writes.invalidate(id, version);
  }

  /** See {@link VersionedWrites.markDeleted}. */
  markDeleted(id: number): Promise<void> {
    return this.writes.markDeleted(id);
  }

  /** See {@link VersionedWrites.acceptedHere}. */
  acceptedHere<T extends CacheableRecord>(id: number, record: T | null): void {
    this.writes.acceptedHere(id, record);
  }

  /** See {@link RecordEntries.applyChanges}. Throws when Redis fails. */
  applyChanges(changes: CommittedChange[]): Promise<CommittedChange[]> {
    return this.entries.applyChanges(changes);
  }

  /**
   * The record as the write path last left it: its entry and whether it has a tombstone, in one round trip on
   * the write connection. Throws when Redis fails.
   */
  async latest<T extends CacheableRecord>(id: number): Promise<{ value: T | null; deleted: boolean }> {
    const [row, tombstone] = await this.redis.writer.mget(this.keys.entry(id), this.keys.tombstone(id));
    return { value: row ? (JSON.parse(row) as T) : null, deleted: Boolean(tombstone) };
  }

  /** True when the record's tombstone is there. Throws when Redis fails. */
  async isDeleted(id: number): Promise<boolean> {
    return (await this.redis.reader.exists(this.keys.tombstone(id))) === 1;
  }

  /**
   * How long each entry stays fresh, in ms: 0 once stale (a grace copy), -2 absent, -1 no TTL, null unknown. One
   * command per entry, since the entries may live on different cluster nodes.
   */
  remainingTtls(ids: number[]): Promise<(number | null)[]> {
    return Promise.all(
      ids.map((id) =>
        this.redis.reader
          .pttl(this.keys.entry(id))
          .then((ttl) => (ttl < 0 ? ttl : Math.max(0, ttl - this.ttls.graceMs)))
          .catch(() => null),
      ),
    );
  }

  /** How long a read waits for Postgres: before answering a grace copy (`softMs`), and at most (`hardMs`). */
  get loadTimeouts(): { softMs: number; hardMs: number } {
    return { softMs: this.config.softTimeoutMs, hardMs: this.config.loadTimeoutMs };
  }

  /** How long entries are kept past their TTL as grace copies, in ms (0: none). */
  get graceMs(): number {
    return this.ttls.graceMs;
  }

  /** Deletes every key of this app (see `RedisConnections.unlinkMatching`); returns how many. */
  async clear(): Promise<number> {
    const removed = await this.redis.unlinkMatching(this.keys.everything());
    this.debt.forgive();
    return removed;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** See {@link RedisConnections.attempt}: a cache call that degrades to `fallback` when Redis fails. */
  attempt<R, F = R>(call: () => Promise<R>, fallback: (error: unknown) => F | Promise<F>): Promise<R | F> {
    return this.redis.attempt(call, fallback);
  }

  /** Counts a failed cache command; the caller degrades to Postgres. */
  failed(error: unknown): void {
    this.redis.failed(error);
  }

  private async gateOpen(): Promise<boolean> {
    return this.gate.open || (await this.gate.opened());
  }
}
