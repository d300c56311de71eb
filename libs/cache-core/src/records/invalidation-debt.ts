import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { NearCache } from '../near/near-cache';
import { ChangeConfirmations } from '../outbox/change-confirmations';
import { CacheKeys } from '../redis/cache-keys';
import { RedisConnections } from '../redis/redis-connections';
import { CacheStats } from '../stats/cache-stats';
import { OwedInvalidations } from './owed-invalidations';

/** Beyond this many unconfirmed invalidations, the whole app cache is cleared on reconnect instead. */
const MAX_OWED_INVALIDATIONS = 100_000;

/** Invalidations are replayed this many records per command. */
const REPLAY_BATCH = 500;

/** How many of this instance's own successful invalidations are remembered, so the outbox need not repeat them. */
const APPLIED_HERE_LIMIT = 10_000;

/**
 * What this instance owes Redis, and what it already gave it. An invalidation that could not reach Redis is owed:
 * no read of that record is served from Redis until it is paid (replayed on reconnect, or settled by a later
 * invalidation or an outbox apply). What this instance applied itself is remembered, so the outbox need not
 * apply it again.
 */
@Injectable()
export class InvalidationDebt {
  private readonly owed: OwedInvalidations<number>;
  /** The version each owed invalidation is for, when known: once paid, the outbox need not apply it again. */
  private readonly owedVersions = new Map<number, number>();
  private readonly appliedHere = new LRUCache<number, number>({ max: APPLIED_HERE_LIMIT });
  private paying?: Promise<void>;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly stats: CacheStats,
    private readonly confirmations: ChangeConfirmations,
    private readonly near: NearCache,
  ) {
    this.owed = new OwedInvalidations((ids) => this.replay(ids), MAX_OWED_INVALIDATIONS);
    redis.onReady(() => void this.pay());
  }

  /** True while any invalidation is owed. */
  get any(): boolean {
    return this.owed.any;
  }

  /** False when Redis is down, or when an invalidation of this record (or of everything) is still owed. */
  async readable(id: number): Promise<boolean> {
    if (!this.redis.available) return false;
    if (this.owed.any) await this.pay();
    return !this.owed.owes(id);
  }

  /** An invalidation that could not reach Redis: owed here, and given a moment to be applied by another instance. */
  async owe(id: number, version: number | undefined, since: number): Promise<void> {
    this.owed.add(id);
    if (version !== undefined && version > (this.owedVersions.get(id) ?? 0)) this.owedVersions.set(id, version);
    await this.confirmations.wait(id, version, since);
  }

  /** An invalidation of `id` reached Redis: nothing of it is owed any more. */
  settled(id: number): void {
    this.owed.settled(id);
    this.owedVersions.delete(id);
  }

  /** This instance applied `id`'s change up to `version`: other instances hear of it, the outbox skips it. */
  appliedUpTo(id: number, version: number): void {
    this.confirmations.applied(id, version);
    this.remember(id, version);
  }

  /** Remembers that Redis holds `id` at `version` or newer, without telling anyone. */
  remember(id: number, version: number): void {
    this.appliedHere.set(id, version);
  }

  /** True unless this instance itself already applied `version` (or a later one) of `id`. */
  isNewHere(id: number, version: number): boolean {
    return (this.appliedHere.peek(id) ?? 0) < version;
  }

  /** The app's keys were all deleted: nothing is owed, nothing applied is remembered, the near cache is empty. */
  forgive(): void {
    this.owed.forgive();
    this.owedVersions.clear();
    this.appliedHere.clear();
    this.near.clear();
  }

  private pay(): Promise<void> {
    this.paying ??= this.payNow().finally(() => (this.paying = undefined));
    return this.paying;
  }

  private async payNow(): Promise<void> {
    if (!this.redis.available) return;
    await this.redis.attempt(
      () => this.owed.pay(),
      () => undefined,
    );
  }

  private async replay(ids: number[] | 'everything'): Promise<void> {
    if (ids === 'everything') {
      await this.redis.unlinkMatching(this.keys.everything());
      this.forgive();
      return;
    }
    for (let start = 0; start < ids.length; start += REPLAY_BATCH) {
      const batch = ids.slice(start, start + REPLAY_BATCH);
      // One command per record: an entry and its lease share a slot, different records may not.
      await Promise.all(batch.map((id) => this.redis.reader.del(this.keys.entry(id), this.keys.lease(id))));
      for (const id of batch) {
        const version = this.owedVersions.get(id);
        this.settled(id);
        if (version !== undefined) this.appliedUpTo(id, version);
      }
      this.stats.countInvalidation();
    }
  }
}
