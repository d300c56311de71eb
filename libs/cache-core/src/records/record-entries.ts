import { Injectable } from '@nestjs/common';
import { NearCache } from '../near/near-cache';
import { type CommittedChange, InvalidationTarget } from '../outbox/committed-change';
import { CacheKeys } from '../redis/cache-keys';
import { RedisConnections } from '../redis/redis-connections';
import { CacheStats } from '../stats/cache-stats';
import { EntryTtls } from './entry-ttls';
import { InvalidationDebt } from './invalidation-debt';
import { MARKER_TTL_MS } from './entry-ttls';

/**
 * Where the invalidation outbox applies committed changes to the records' entries (the default
 * `InvalidationTarget`; the blog wraps it to drop its list chunks too): each entry older than its change is
 * dropped with its lease, a deletion leaves a tombstone, newer entries stay.
 */
@Injectable()
export class RecordEntries extends InvalidationTarget {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly ttls: EntryTtls,
    private readonly stats: CacheStats,
    private readonly near: NearCache,
    private readonly debt: InvalidationDebt,
  ) {
    super();
  }

  get writable(): boolean {
    return this.redis.writable;
  }

  async apply(changes: CommittedChange[]): Promise<void> {
    await this.applyChanges(changes);
  }

  /**
   * Applies the changes and returns those applied now: not those this instance applied itself, nor those Redis
   * says were applied already (by their writer or another instance), so what derives from them is not
   * invalidated twice. Throws when Redis fails.
   */
  async applyChanges(changes: CommittedChange[]): Promise<CommittedChange[]> {
    for (const change of changes) this.near.changed(change.id, change.version, change.operation);
    const due = changes.filter((change) => this.debt.isNewHere(change.id, change.version));
    const results = await Promise.all(
      due.map((change) =>
        this.redis.writer.invalidateOlder(
          this.keys.entry(change.id),
          this.keys.lease(change.id),
          this.keys.tombstone(change.id),
          this.keys.invalidated(change.id),
          change.version,
          change.operation,
          this.ttls.tombstoneMs,
          MARKER_TTL_MS,
        ),
      ),
    );
    for (const change of due) this.debt.settled(change.id);
    const appliedNow = due.filter((_, index) => results[index] === 1);
    if (appliedNow.length > 0) this.stats.countInvalidation();
    return appliedNow;
  }
}
