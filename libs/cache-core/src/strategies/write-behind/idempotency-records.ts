import {
  claimDigest,
  type IdempotencyClaim,
  IdempotencyKeyInUseError,
  type IdempotentWrite,
  replayFor,
  type StoredOutcome,
} from '@app/common';
import { Injectable } from '@nestjs/common';
import { CacheKeys } from '../../redis/cache-keys';
import { RedisConnections } from '../../redis/redis-connections';
import { RedisLock } from '../../redis/redis-lock';

/** Longest a request may hold its key before another may take it over (a crashed process's lock). */
const LOCK_TTL_MS = 10_000;

/**
 * Write-behind's idempotency records, in Redis next to the change log: the answer is stored by the accept
 * script itself (so it exists exactly when the change does), and a short lock per key makes a concurrent
 * repeat a 409 instead of a second change.
 */
@Injectable()
export class IdempotencyRecords {
  constructor(
    private readonly redis: RedisConnections,
    private readonly locks: RedisLock,
    private readonly keys: CacheKeys,
  ) {}

  /** Where the answer to `claim` is stored. */
  recordKey(claim: IdempotencyClaim): string {
    return this.keys.idempotency(digestOf(claim));
  }

  async storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    const raw = await this.redis.writer.get(this.recordKey(claim));
    return raw === null ? null : (JSON.parse(raw) as StoredOutcome);
  }

  /** The answer to store with the change, in the accept script's form. */
  answer<T>(write: IdempotentWrite<T>, record: T | undefined): { key: string; value: string; ttlMs: number } {
    const stored: StoredOutcome = { fingerprint: write.fingerprint, ...write.response(record) };
    return { key: this.recordKey(write), value: JSON.stringify(stored), ttlMs: write.ttlSeconds * 1000 };
  }

  /**
   * Runs `work` holding the key: a repeat that arrives meanwhile is a 409, and one that arrives after the
   * answer was stored replays it (thrown as `IdempotentReplay`, or a 422 for another request).
   */
  async holding<R>(claim: IdempotencyClaim, work: () => Promise<R>): Promise<R> {
    const lock = await this.locks.acquire(this.keys.idempotencyLock(digestOf(claim)), LOCK_TTL_MS, 'write');
    if (lock === null) {
      const stored = await this.storedOutcome(claim);
      if (stored !== null) throw replayFor(stored, claim);
      throw new IdempotencyKeyInUseError();
    }
    try {
      const stored = await this.storedOutcome(claim);
      if (stored !== null) throw replayFor(stored, claim);
      return await work();
    } finally {
      await lock.release().catch(() => undefined);
    }
  }
}

function digestOf(claim: IdempotencyClaim): string {
  return claimDigest(claim).toString('base64url');
}
