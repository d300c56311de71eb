import { Injectable } from '@nestjs/common';
import { CacheKeys } from '../../redis/cache-keys';
import { RedisConnections } from '../../redis/redis-connections';

/** One id of the hot set, with its score decayed to `now` by the caller. */
export interface HotSetEntry {
  id: number;
  /** The stored score: accesses weighted by e^(λ·(t − t0)) of its shard's t0. */
  score: number;
  /** Its shard's decay origin, in seconds. */
  t0: number;
}

/**
 * Refresh-ahead's hot set in Redis: ids ranked by a forward-decayed access count (`record-accesses-2.lua`),
 * shared by every instance of the app, split by id over `CacheKeys.hotShards` sorted sets (one slot each on a
 * cluster), each capped at its share of the capacity. Every method throws when Redis fails.
 */
@Injectable()
export class HotSet {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
  ) {}

  /** Adds `counts` weighted for `nowSeconds`, then trims each shard to its share of `capacity`. */
  async add(counts: Map<number, number>, nowSeconds: number, lambda: number, capacity: number): Promise<void> {
    const byShard = new Map<number, number[]>();
    for (const [id, count] of counts) {
      const shard = this.keys.hotShardOf(id);
      byShard.set(shard, [...(byShard.get(shard) ?? []), id, count]);
    }
    const perShard = Math.ceil(capacity / this.keys.hotShards);
    await Promise.all(
      [...byShard].map(([shard, idsAndCounts]) =>
        this.redis.reader.recordAccesses(
          this.keys.hot(shard),
          this.keys.hotMeta(shard),
          nowSeconds,
          lambda,
          perShard,
          // Twenty half-lives after the last read, nothing of a score is left: the keys may go.
          Math.ceil((20 * Math.LN2 * 1000) / lambda),
          ...idsAndCounts,
        ),
      ),
    );
  }

  /** Up to `limit` of the highest stored scores of each shard, with the shard's decay origin. */
  async top(limit: number): Promise<HotSetEntry[]> {
    const shards = Array.from({ length: this.keys.hotShards }, (_, shard) => shard);
    const tops = await Promise.all(
      shards.map(async (shard) => {
        const [flat, t0] = await Promise.all([
          this.redis.reader.zrevrange(this.keys.hot(shard), 0, limit - 1, 'WITHSCORES'),
          this.redis.reader.hget(this.keys.hotMeta(shard), 't0'),
        ]);
        const entries: HotSetEntry[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          entries.push({ id: Number(flat[i]), score: Number(flat[i + 1]), t0: Number(t0 ?? Date.now() / 1000) });
        }
        return entries;
      }),
    );
    return tops.flat();
  }

  async size(): Promise<number> {
    const shards = Array.from({ length: this.keys.hotShards }, (_, shard) => shard);
    const sizes = await Promise.all(shards.map((shard) => this.redis.reader.zcard(this.keys.hot(shard))));
    return sizes.reduce((total, size) => total + size, 0);
  }

  async remove(id: number): Promise<void> {
    await this.redis.reader.zrem(this.keys.hot(this.keys.hotShardOf(id)), String(id));
  }
}
