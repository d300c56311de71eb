import { Injectable } from '@nestjs/common';
import type { CacheableRecord } from '../cache-strategy';
import { NearCache } from '../near/near-cache';
import { CacheKeys } from '../redis/cache-keys';
import { RedisConnections } from '../redis/redis-connections';
import { CacheStats } from '../stats/cache-stats';
import { EntryTtls, MARKER_TTL_MS } from './entry-ttls';
import { InvalidationDebt } from './invalidation-debt';

/**
 * The write side: every write stores or drops the record's entry by version, never replacing a newer one, and
 * drops any reader's lease so a load that raced the write is not stored. A write whose Redis call fails is owed
 * (see {@link InvalidationDebt}), so a stale copy cannot survive the outage.
 */
@Injectable()
export class VersionedWrites {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly ttls: EntryTtls,
    private readonly stats: CacheStats,
    private readonly near: NearCache,
    private readonly debt: InvalidationDebt,
  ) {}

  /**
   * Stores `value` unless the cache already holds the same or a newer version, or the record was deleted
   * (`older`). Also drops any reader's lease, since `value` supersedes what they loaded. When Redis cannot be
   * reached (`failed`) the entry is invalidated later.
   */
  async setIfNewer<T extends CacheableRecord>(value: T, ttlMs: number): Promise<'stored' | 'older' | 'failed'> {
    const id = value.id;
    const since = Date.now();
    this.near.changed(id, value.version);
    if (this.redis.writable) {
      const stored = await this.redis.attempt(
        () =>
          this.redis.writer.setIfNewer(
            this.keys.entry(id),
            this.keys.lease(id),
            this.keys.tombstone(id),
            this.keys.invalidated(id),
            JSON.stringify(value),
            this.ttls.stored(value, ttlMs),
            value.version,
            MARKER_TTL_MS,
          ),
        () => null,
      );
      if (stored !== null) {
        if (stored === 1) this.stats.countCacheWrite();
        this.debt.appliedUpTo(id, value.version);
        return stored === 1 ? 'stored' : 'older';
      }
    }
    await this.debt.owe(id, value.version, since);
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
    const done = await this.whenWritable(async () => {
      if (version === undefined) await this.redis.writer.del(this.keys.entry(id), this.keys.lease(id));
      else {
        const keys = [this.keys.entry(id), this.keys.lease(id), this.keys.invalidated(id)] as const;
        await this.redis.writer.invalidate(...keys, version, MARKER_TTL_MS);
      }
      this.invalidated(id, version);
    });
    if (!done) await this.debt.owe(id, version, since);
  }

  /** Invalidates and leaves a tombstone for a cache TTL, so late writes of the deleted record are refused. */
  async markDeleted(id: number): Promise<void> {
    const since = Date.now();
    this.near.changed(id, undefined, 'D');
    const done = await this.whenWritable(async () => {
      await this.redis.writer
        .multi()
        .del(this.keys.entry(id), this.keys.lease(id))
        .set(this.keys.tombstone(id), '1', 'PX', this.ttls.tombstoneMs)
        .exec();
      // Ids are never reused: no later change of this record exists for the outbox to apply here.
      this.invalidated(id, Number.MAX_SAFE_INTEGER);
    });
    if (!done) await this.debt.owe(id, undefined, since);
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
    // (Only remembered here: the cache leads, so reads never wait for the outbox's confirmations.)
    this.debt.remember(id, record.version);
  }

  /** An invalidation of `id` reached Redis: counted, and nothing of it is owed. */
  private invalidated(id: number, version: number | undefined): void {
    this.stats.countInvalidation();
    this.debt.settled(id);
    if (version !== undefined) this.debt.appliedUpTo(id, version);
  }

  /** Runs `write` when the write connection is up; false when it is not, or the write failed. */
  private async whenWritable(write: () => Promise<void>): Promise<boolean> {
    if (!this.redis.writable) return false;
    return this.redis.attempt(
      async () => {
        await write();
        return true;
      },
      () => false,
    );
  }
}
