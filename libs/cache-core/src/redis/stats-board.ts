import { Injectable } from '@nestjs/common';
import { CacheKeys } from './cache-keys';
import { RedisConnections } from './redis-connections';

/**
 * Where every instance of an app publishes its counters, so any instance can answer for all of them
 * (`GET /stats?scope=cluster`). Each entry expires on its own (`ttlMs`): an instance that died drops out.
 * Every method throws when Redis fails.
 */
@Injectable()
export class StatsBoard {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
  ) {}

  async publish(instance: string, counters: object, ttlMs: number): Promise<void> {
    const now = Date.now();
    await this.redis.reader
      .multi()
      .set(this.keys.statsOf(instance), JSON.stringify(counters), 'PX', ttlMs)
      .zadd(this.keys.statsIndex, now, instance)
      .zremrangebyscore(this.keys.statsIndex, '-inf', String(now - 10 * ttlMs))
      .pexpire(this.keys.statsIndex, 10 * ttlMs)
      .exec();
  }

  async withdraw(instance: string): Promise<void> {
    await this.redis.reader.multi().del(this.keys.statsOf(instance)).zrem(this.keys.statsIndex, instance).exec();
  }

  /** The counters every live instance published, by instance. */
  async all(): Promise<{ instance: string; counters: Record<string, unknown> }[]> {
    const instances = await this.redis.reader.zrange(this.keys.statsIndex, '0', '-1');
    if (instances.length === 0) return [];
    const entries = await this.redis.reader.mget(...instances.map((instance) => this.keys.statsOf(instance)));
    return instances.flatMap((instance, index) => {
      const entry = entries[index];
      return entry ? [{ instance, counters: JSON.parse(entry) as Record<string, unknown> }] : [];
    });
  }
}
