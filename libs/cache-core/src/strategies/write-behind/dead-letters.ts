import { Injectable } from '@nestjs/common';
import { CacheKeys } from '../../redis/cache-keys';
import { RedisConnections } from '../../redis/redis-connections';

export interface DeadLetter {
  id: number;
  version: number;
  reason: string;
  attempts: number;
  failedAt: string;
}

/**
 * Changes Postgres refused `WRITE_BEHIND_MAX_ATTEMPTS` times, kept in the change log's dead-letter hash until an
 * operator replays them (`GET` and `POST /dead-letters`).
 */
@Injectable()
export class DeadLetters {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: CacheKeys,
  ) {}

  /** Every dead letter, by id. */
  async list(): Promise<DeadLetter[]> {
    const entries = await this.redis.writer.hvals(this.keys.writeBehind.dead);
    return entries
      .map((entry) => JSON.parse(entry) as Omit<DeadLetter, 'failedAt'> & { failedAt: number })
      .map((entry) => ({ ...entry, failedAt: new Date(entry.failedAt).toISOString() }))
      .sort((a, b) => a.id - b.id);
  }

  /** Sends dead letters (all, or the ids given) back to be flushed; returns how many. */
  async replay(ids?: number[]): Promise<number> {
    const log = this.keys.writeBehind;
    const targets = ids ?? (await this.redis.writer.hkeys(log.dead)).map(Number);
    if (targets.length === 0) return 0;
    await this.redis.writer.hdel(log.attempts, ...targets.map(String));
    return this.redis.writer.wbReplay(log.pending, log.accepted, log.dead, log.counters, Date.now(), ...targets);
  }
}
