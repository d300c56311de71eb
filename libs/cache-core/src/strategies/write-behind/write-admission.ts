import { CacheConfig, WriteBehindConfig, WritesRefusedError } from '@app/common';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ChangeLog } from './change-log';
import { evictsKeysWithoutTtl, RedisMemory, type RedisMemoryState } from '../../redis/redis-memory';

/** Why write-behind refuses writes now. */
export type RefusalReason = 'eviction-policy' | 'memory' | 'pending';

export const REFUSAL_REASONS: readonly RefusalReason[] = ['eviction-policy', 'memory', 'pending'];

/** The `/stats` field that counts the writes refused for each reason. */
export const REFUSED_STAT: Record<RefusalReason, string> = {
  'eviction-policy': 'refusedForEvictionPolicy',
  memory: 'refusedForMemory',
  pending: 'refusedForPending',
};

interface Refusal {
  reason: RefusalReason;
  message: string;
  retryAfterSeconds: number;
}

/** Pending records must fall below this share of `WRITE_BEHIND_MAX_PENDING` before writes are taken again. */
const PENDING_LOW_WATER = 0.9;

const percent = (ratio: number): string => `${Math.round(ratio * 100)}%`;

/**
 * Decides whether write-behind may accept a write, so that it never acknowledges what Redis may drop and
 * pushes back before Redis is full (a bounded queue, as Hazelcast's write-behind queue capacity is):
 * - under a `maxmemory-policy` that may evict keys without a TTL (`allkeys-*`), no write is accepted: the
 *   unflushed rows and the change log have no TTL, and such a policy could drop them after the 2xx
 *   (`WRITE_BEHIND_ALLOW_EVICTION` overrides this, loudly, for experiments);
 * - with used memory past `WRITE_BEHIND_MEMORY_HIGH_WATER` of `maxmemory`, or `WRITE_BEHIND_MAX_PENDING` records
 *   pending, writes get 503 with `Retry-After` until the flusher has brought them below the low-water marks, so
 *   the flusher always has room to work (the accept scripts enforce the pending limit exactly).
 * Every state change is one log line; `/health`, `/stats` and `/metrics` show the current one.
 */
@Injectable()
export class WriteAdmission implements OnApplicationBootstrap {
  private readonly logger = new Logger(WriteAdmission.name);
  private policyRefusal?: Refusal;
  private memoryRefusal?: Refusal;
  private pendingRefusal?: Refusal;
  private warnedEviction?: string;
  private readonly refused = new Map<RefusalReason, number>(REFUSAL_REASONS.map((reason) => [reason, 0]));

  constructor(
    private readonly memory: RedisMemory,
    private readonly log: ChangeLog,
    private readonly options: WriteBehindConfig,
    private readonly cacheConfig: CacheConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.memory.onCheck((state) => void this.update(state));
  }

  /** The refusal in force, if any: the policy first, then memory, then the pending limit. */
  get refusal(): Refusal | undefined {
    return this.policyRefusal ?? this.memoryRefusal ?? this.pendingRefusal;
  }

  /**
   * True while Redis's used memory is past the low-water mark: the flusher then deletes flushed rows at once
   * instead of leaving them to their TTL, so the memory comes back as soon as Postgres has the rows.
   */
  get memoryPressure(): boolean {
    const state = this.memory.state;
    return state !== undefined && state.maxmemory > 0 && state.usedRatio >= this.options.memoryLowWater;
  }

  /** Writes refused so far, by reason (this process). */
  refusedCounts(): ReadonlyMap<RefusalReason, number> {
    return this.refused;
  }

  /** Throws the 503 for a write that must not be accepted now. */
  assertAccepting(): void {
    const refusal = this.refusal;
    if (refusal === undefined) return;
    this.refused.set(refusal.reason, (this.refused.get(refusal.reason) ?? 0) + 1);
    throw new WritesRefusedError(refusal.message, refusal.retryAfterSeconds);
  }

  /** An accept script answered 'full': the pending limit is reached, whatever the last check saw. */
  pendingLimitReached(pending = this.options.maxPending): never {
    this.setPending(pending);
    this.assertAccepting();
    throw new WritesRefusedError(this.pendingMessage(pending), 2);
  }

  /** Re-evaluates from a fresh memory reading and the log's size. */
  async update(state: RedisMemoryState): Promise<void> {
    this.updatePolicy(state);
    this.updateMemory(state);
    if (this.options.maxPending > 0) {
      const pending = await this.log.pendingCount().catch(() => undefined);
      if (pending !== undefined) this.setPending(pending);
    }
  }

  private updatePolicy({ policy }: RedisMemoryState): void {
    const evicts = evictsKeysWithoutTtl(policy);
    if (evicts && this.options.allowEviction) {
      if (this.warnedEviction !== policy) {
        this.logger.warn(
          `WRITE_BEHIND_ALLOW_EVICTION is on and Redis's maxmemory-policy is ${policy}: Redis may evict accepted ` +
            'changes before they reach Postgres, and they would be lost. Never run this way in production.',
        );
      }
      this.warnedEviction = policy;
      this.policyRefusal = undefined;
      return;
    }
    this.warnedEviction = undefined;
    if (!evicts) {
      if (this.policyRefusal !== undefined) this.logger.log(`Redis maxmemory-policy is ${policy}: accepting writes`);
      this.policyRefusal = undefined;
      return;
    }
    if (this.policyRefusal?.message.includes(` ${policy}:`)) return;
    const seconds = Math.ceil(this.cacheConfig.memoryCheckMs / 1000);
    this.policyRefusal = {
      reason: 'eviction-policy',
      retryAfterSeconds: Math.max(5, seconds),
      message:
        `Write-behind accepts no writes: Redis's maxmemory-policy is ${policy}: it may evict keys without a TTL, ` +
        'which would lose accepted changes before they reach Postgres. Set maxmemory-policy to noeviction (or a ' +
        'volatile-* policy), e.g. `CONFIG SET maxmemory-policy noeviction`; writes are accepted again within ' +
        `${seconds} s`,
    };
    this.logger.error(this.policyRefusal.message);
  }

  private updateMemory({ maxmemory, usedRatio }: RedisMemoryState): void {
    const { memoryHighWater: high, memoryLowWater: low } = this.options;
    if (maxmemory === 0 || (this.memoryRefusal !== undefined && usedRatio < low)) {
      if (this.memoryRefusal !== undefined) {
        this.logger.log(`Redis memory at ${percent(usedRatio)} of maxmemory, below ${percent(low)}: accepting writes`);
      }
      this.memoryRefusal = undefined;
      return;
    }
    if (this.memoryRefusal === undefined && usedRatio < high) return;
    const first = this.memoryRefusal === undefined;
    this.memoryRefusal = {
      reason: 'memory',
      retryAfterSeconds: 2,
      message:
        `Write-behind accepts no writes for now: Redis's memory is at ${percent(usedRatio)} of maxmemory ` +
        `(WRITE_BEHIND_MEMORY_HIGH_WATER ${percent(high)}); writes are accepted again once the flusher has ` +
        `moved changes to Postgres and it is below ${percent(low)}`,
    };
    if (first) this.logger.warn(this.memoryRefusal.message);
  }

  private setPending(pending: number): void {
    const limit = this.options.maxPending;
    if (limit === 0) return;
    if (this.pendingRefusal === undefined && pending < limit) return;
    if (this.pendingRefusal !== undefined && pending < limit * PENDING_LOW_WATER) {
      this.logger.log(`${pending} records pending, below ${Math.floor(limit * PENDING_LOW_WATER)}: accepting writes`);
      this.pendingRefusal = undefined;
      return;
    }
    const first = this.pendingRefusal === undefined;
    this.pendingRefusal = { reason: 'pending', retryAfterSeconds: 2, message: this.pendingMessage(pending) };
    if (first) this.logger.warn(this.pendingRefusal.message);
  }

  private pendingMessage(pending: number): string {
    const limit = this.options.maxPending;
    return (
      `Write-behind accepts no writes for now: ${pending} records have changes waiting for Postgres ` +
      `(WRITE_BEHIND_MAX_PENDING ${limit}); writes are accepted again once the flusher has brought that below ` +
      `${Math.floor(limit * PENDING_LOW_WATER)}`
    );
  }
}
