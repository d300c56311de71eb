import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { RedisConnections } from './redis-connections';

/** A lock taken with {@link RedisLock.acquire}. */
export interface HeldLock {
  /** Releases the lock if it is still this holder's (never the next holder's). */
  release(): Promise<void>;
}

/**
 * Short locks in Redis for work only one process may do at a time. A lock expires on its own (a crashed holder
 * never blocks others for longer than its TTL), and is released only by the holder whose token it still has.
 */
@Injectable()
export class RedisLock {
  constructor(private readonly redis: RedisConnections) {}

  /**
   * Takes `key` for `ttlMs`; null when someone else holds it. Throws when Redis fails. Write-path work locks on
   * the write connection, background work (a sweep) on the read connection.
   */
  async acquire(key: string, ttlMs: number, path: 'read' | 'write'): Promise<HeldLock | null> {
    const redis = path === 'write' ? this.redis.writer : this.redis.reader;
    const token = randomBytes(8).toString('hex');
    if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) === null) return null;
    return {
      release: async () => {
        await redis.releaseLock(key, token);
      },
    };
  }
}
