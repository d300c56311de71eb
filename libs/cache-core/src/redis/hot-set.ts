import { Injectable } from '@nestjs/common';
import { CacheKeys } from './cache-keys';
import { RedisConnections } from './redis-connections';

/**
 * Refresh-ahead's hot set in Redis: ids ranked by a forward-decayed access count (`record-accesses-2.lua`),
 * shared by every instance of the app and capped in size. Every method throws when Redis fails.
 */
@Injectable()
export class HotSet {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
  ) {}

  /** Adds `idsAndCounts` (id, count, id, count, ...) weighted for `nowSeconds`, then trims to `capacity`. */
  async add(idsAndCounts: number[], nowSeconds: number, lambda: number, capacity: number): Promise<void> {
    await this.redis.reader.recordAccesses(
      this.keys.hot,
      this.keys.hotMeta,
      nowSeconds,
      lambda,
      capacity,
      ...idsAndCounts,
    );
  }

  /** The `limit` highest ids with their stored (undecayed) scores, and the decay origin t0 in seconds. */
  async top(limit: number): Promise<{ entries: { id: number; score: number }[]; t0: number | null }> {
    const [flat, t0] = await Promise.all([
      this.redis.reader.zrevrange(this.keys.hot, 0, limit - 1, 'WITHSCORES'),
      this.redis.reader.hget(this.keys.hotMeta, 't0'),
    ]);
    const entries: { id: number; score: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: Number(flat[i]), score: Number(flat[i + 1]) });
    return { entries, t0: t0 === null ? null : Number(t0) };
  }

  size(): Promise<number> {
    return this.redis.reader.zcard(this.keys.hot);
  }

  async remove(id: number): Promise<void> {
    await this.redis.reader.zrem(this.keys.hot, String(id));
  }
}
