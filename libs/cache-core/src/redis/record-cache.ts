import { CacheUnavailableError } from '@app/common';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import {
  circuitBreaker,
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  isBrokenCircuitError,
} from 'cockatiel';
import { Redis } from 'ioredis';
import { CacheKeys } from '../cache-keys';
import { CACHE_CORE_OPTIONS, type CacheCoreOptions } from '../cache-core.options';
import type { CacheableRecord } from '../cache-strategy';
import { CacheStats } from '../stats/cache-stats';

/** Result of looking a record up in Redis. A hit's `value` is null when the record is cached as absent. */
export type CacheLookup<T> =
  { kind: 'hit'; value: T | null } | { kind: 'miss'; lease: string } | { kind: 'unavailable' };

const UNAVAILABLE = { kind: 'unavailable' } as const;

/** How long a connection attempt may take, and how long start waits for Redis. */
const CONNECT_TIMEOUT_MS = 2_000;

/** Beyond this many unconfirmed invalidations, the whole app cache is cleared on reconnect instead. */
const MAX_PENDING_INVALIDATIONS = 100_000;

/**
 * Why a lease: a reader that missed may read the row, lose the CPU, and store it after a writer has
 * committed a newer row and invalidated. Every write deletes the lease, so that late fill finds no lease
 * (or another reader's) and is dropped: the cache ends up empty or new, never old.
 */
const FILL_IF_LEASED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/**
 * Why a version compare: two writers commit v2 then v3, but their cache writes can arrive v3 then v2.
 * Storing only when the cached version is older makes the arrival order irrelevant, and the tombstone
 * stops a late write from bringing back a record deleted in the meantime.
 */
const SET_IF_NEWER = `
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local current = redis.call('GET', KEYS[1])
if current then
  -- The version is read from the JSON text: Redis's decoder refuses some strings JSON.stringify writes.
  local version = tonumber(string.match(current, '"version":(%-?%d+)'))
  if version and version >= tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/**
 * The 503 for a write whose Redis command failed. Nothing was sent when the client refused it up front
 * (disconnected, no offline queue); after a timeout or a connection lost in flight, the script may have run.
 */
export function cacheWriteFailure(error: unknown): CacheUnavailableError {
  const message = error instanceof Error ? error.message : '';
  return /isn't writeable|not ready|enableOfflineQueue/i.test(message)
    ? new CacheUnavailableError(undefined, 'not-applied')
    : new CacheUnavailableError('Cache did not answer in time', 'unknown');
}

interface RecordCacheCommands {
  fillIfLeased(entry: string, lease: string, token: string, payload: string, ttlMs: number): Promise<number>;
  setIfNewer(
    entry: string,
    lease: string,
    tombstone: string,
    payload: string,
    ttlMs: number,
    version: number,
  ): Promise<number>;
}

/**
 * Records in Redis for one app, built to fail fast: every command has a timeout, nothing queues while
 * disconnected, and a failed call answers "unavailable" instead of throwing, so callers fall back to Postgres.
 * An invalidation that could not reach Redis is remembered and applied before any read of that record is
 * served from Redis again, so nothing written while Redis was away is read stale afterwards.
 */
@Injectable()
export class RecordCache implements OnModuleInit, OnApplicationShutdown {
  /** The raw client, for strategies that keep extra structures (hot sets, locks) under this app's prefix. */
  readonly redis: Redis & RecordCacheCommands;
  /**
   * The client for the write path: the same fail-fast settings with the longer write timeout, on its own
   * connection so a burst of writes never queues in front of reads.
   */
  readonly writer: Redis & RecordCacheCommands;
  private readonly logger = new Logger(RecordCache.name);
  private readonly leaseTtlMs: number;
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenSequence = 0;
  private readonly pending = new Set<number>();
  private clearAllPending = false;
  private draining?: Promise<void>;
  private outage = false;
  /** Reads skip Redis for a while after consecutive failures (see {@link readBreaker}); undefined when off. */
  private readonly breaker?: CircuitBreakerPolicy;

  constructor(
    @Inject(CACHE_CORE_OPTIONS) private readonly options: CacheCoreOptions,
    readonly keys: CacheKeys,
    private readonly stats: CacheStats,
  ) {
    this.leaseTtlMs = options.leaseTtlMs ?? 10_000;
    this.redis = this.connect('cache', options.commandTimeoutMs);
    this.writer = this.connect('cache-writer', options.writeTimeoutMs);
    this.breaker = this.readBreaker(options.breakerFailures ?? 0);
    this.redis.on('ready', () => {
      if (this.outage) this.logger.log('Redis is back');
      this.outage = false;
      void this.drainPending();
    });
  }

  /** True when the client is connected and ready; commands are not even tried otherwise. */
  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** The same for the write-path client. */
  get writable(): boolean {
    return this.writer.status === 'ready';
  }

  /** The configured TTL, before jitter, in ms. */
  get fullTtlMs(): number {
    return this.options.ttlSeconds * 1000;
  }

  /** Cache TTL with jitter, in ms. */
  ttlMs(): number {
    return Math.round(this.options.ttlSeconds * 1000 * (1 - this.options.ttlJitter * Math.random()));
  }

  negativeTtlMs(): number {
    return this.options.negativeTtlSeconds * 1000;
  }

  /** A hit, or a miss that holds the lease to fill the entry, or unavailable (go to Postgres, do not fill). */
  async lookup<T extends CacheableRecord>(id: number): Promise<CacheLookup<T>> {
    if (!this.available) return UNAVAILABLE;
    if (this.owesInvalidations && !(await this.readable(id))) return UNAVAILABLE;
    try {
      const raw = await this.read(() => this.redis.get(this.keys.entry(id)));
      if (raw !== null) return { kind: 'hit', value: JSON.parse(raw) as T | null };
      const lease = await this.acquireLease(id);
      return lease === null ? UNAVAILABLE : { kind: 'miss', lease };
    } catch (error) {
      this.failed(error);
      return UNAVAILABLE;
    }
  }

  /**
   * Like {@link lookup}, and a hit also says how many ms the entry has left (one round trip), for strategies
   * that act before expiry.
   */
  async lookupWithTtl<T extends CacheableRecord>(id: number): Promise<CacheLookup<T> & { ttlMs?: number }> {
    if (!this.available) return UNAVAILABLE;
    if (this.owesInvalidations && !(await this.readable(id))) return UNAVAILABLE;
    try {
      const key = this.keys.entry(id);
      const [[getError, raw], [ttlError, ttlMs]] = (await this.read(() =>
        this.redis.multi().get(key).pttl(key).exec(),
      )) as [[Error | null, string | null], [Error | null, number]];
      if (getError) throw getError;
      if (ttlError) throw ttlError;
      if (raw !== null) return { kind: 'hit', value: JSON.parse(raw) as T | null, ttlMs };
      const lease = await this.acquireLease(id);
      return lease === null ? UNAVAILABLE : { kind: 'miss', lease };
    } catch (error) {
      this.failed(error);
      return UNAVAILABLE;
    }
  }

  /** Takes the lease to (re)fill `id`: any write before the fill voids it. Null when Redis is away. */
  async acquireLease(id: number): Promise<string | null> {
    if (!this.available) return null;
    const lease = `${this.tokenPrefix}:${(this.tokenSequence += 1)}`;
    try {
      await this.read(() => this.redis.set(this.keys.lease(id), lease, 'PX', this.leaseTtlMs));
      return lease;
    } catch (error) {
      this.failed(error);
      return null;
    }
  }

  /** Stores a loaded record (or null for "absent") if `lease` is still the entry's lease. */
  async fill<T extends CacheableRecord>(
    id: number,
    value: T | null,
    lease: string,
    ttlMs = this.ttlMs(),
  ): Promise<boolean> {
    try {
      const stored = await this.read(() =>
        this.redis.fillIfLeased(this.keys.entry(id), this.keys.lease(id), lease, JSON.stringify(value), ttlMs),
      );
      if (stored === 1) this.stats.countCacheWrite();
      return stored === 1;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /**
   * Stores `value` unless the cache already holds the same or a newer version, or the record was deleted
   * (`older`). Also drops any reader's lease, since `value` supersedes what they loaded. When Redis cannot be
   * reached (`failed`) the entry is invalidated later, so a stale copy cannot survive the outage.
   */
  async setIfNewer<T extends CacheableRecord>(value: T, ttlMs = this.ttlMs()): Promise<'stored' | 'older' | 'failed'> {
    const id = value.id;
    if (!this.writable) {
      this.remember(id);
      return 'failed';
    }
    try {
      const stored = await this.writer.setIfNewer(
        this.keys.entry(id),
        this.keys.lease(id),
        this.keys.tombstone(id),
        JSON.stringify(value),
        ttlMs,
        value.version,
      );
      if (stored === 1) this.stats.countCacheWrite();
      return stored === 1 ? 'stored' : 'older';
    } catch (error) {
      this.failed(error);
      this.remember(id);
      return 'failed';
    }
  }

  /** Deletes the entry and any reader's lease. When Redis cannot be reached, remembers to do it later. */
  async invalidate(id: number): Promise<void> {
    if (!this.writable) return this.remember(id);
    try {
      await this.writer.del(this.keys.entry(id), this.keys.lease(id));
      this.stats.countInvalidation();
      this.pending.delete(id);
    } catch (error) {
      this.failed(error);
      this.remember(id);
    }
  }

  /** Invalidates and leaves a tombstone for a cache TTL, so late writes of the deleted record are refused. */
  async markDeleted(id: number): Promise<void> {
    if (!this.writable) return this.remember(id);
    try {
      await this.writer
        .multi()
        .del(this.keys.entry(id), this.keys.lease(id))
        .set(this.keys.tombstone(id), '1', 'PX', this.options.ttlSeconds * 1000)
        .exec();
      this.stats.countInvalidation();
      this.pending.delete(id);
    } catch (error) {
      this.failed(error);
      this.remember(id);
    }
  }

  /** Deletes every key of this app (SCAN + UNLINK in batches, never KEYS); returns how many. */
  async clear(): Promise<number> {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.everything(), 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    this.pending.clear();
    this.clearAllPending = false;
    return removed;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /**
   * Gives both connections up to their connect timeout to come up before the app listens, so a freshly started
   * app does not serve its first requests without Redis when Redis is there. A Redis that is down does not
   * hold the start: requests then go on without it, and the clients connect when it appears.
   */
  async onModuleInit(): Promise<void> {
    const ready = (client: Redis): Promise<unknown> =>
      client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', resolve));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([ready(this.redis), ready(this.writer)]),
      new Promise((resolve) => (timer = setTimeout(resolve, CONNECT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Last, after every `beforeApplicationShutdown` hook, so a batch in hand can still be acknowledged. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.redis, this.writer].map((client) => client.quit().catch(() => client.disconnect())));
  }

  /** Counts a failed cache command; the caller degrades to Postgres. A read skipped by the breaker is not one. */
  failed(error: unknown): void {
    if (isBrokenCircuitError(error)) return;
    this.stats.countError();
    this.reportOutage(error as Error);
  }

  /**
   * Why a breaker on reads: while Redis hangs (a partition, a frozen server), every read would wait the full
   * command timeout before going to Postgres. After `failures` consecutive failed reads, reads skip Redis
   * (BYPASS, straight to Postgres) for a while that starts at 250 ms and doubles up to 10 s while probes keep
   * failing; one successful probe closes it. Skipping Redis on reads cannot serve stale data, so this trades
   * only hit ratio for latency. Writes never go through it.
   */
  private readBreaker(failures: number): CircuitBreakerPolicy | undefined {
    if (failures <= 0) return undefined;
    const breaker = circuitBreaker(handleAll, {
      halfOpenAfter: new ExponentialBackoff({ initialDelay: 250, maxDelay: 10_000 }),
      breaker: new ConsecutiveBreaker(failures),
    });
    breaker.onBreak(() => this.logger.warn(`Redis reads failed ${failures} times in a row: skipping Redis for reads`));
    breaker.onReset(() => this.logger.log('Redis reads work again'));
    return breaker;
  }

  /** Runs a read-path command through the breaker, when there is one. */
  private read<R>(command: () => Promise<R>): Promise<R> {
    return this.breaker === undefined ? command() : this.breaker.execute(command);
  }

  private connect(role: string, commandTimeout: number): Redis & RecordCacheCommands {
    const client = new Redis(this.options.redisUrl, {
      commandTimeout,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
      connectionName: `${this.options.keyPrefix}${role}`,
    }) as Redis & RecordCacheCommands;
    client.defineCommand('fillIfLeased', { numberOfKeys: 2, lua: FILL_IF_LEASED });
    client.defineCommand('setIfNewer', { numberOfKeys: 3, lua: SET_IF_NEWER });
    client.on('error', (error: Error) => this.reportOutage(error));
    return client;
  }

  private remember(id: number): void {
    if (this.pending.size >= MAX_PENDING_INVALIDATIONS) {
      this.clearAllPending = true;
      this.pending.clear();
    }
    if (!this.clearAllPending) this.pending.add(id);
  }

  private get owesInvalidations(): boolean {
    return this.pending.size > 0 || this.clearAllPending;
  }

  /** False when Redis is down, or when an invalidation of this record (or of everything) is still owed. */
  private async readable(id: number): Promise<boolean> {
    if (!this.available) return false;
    if (this.pending.size > 0 || this.clearAllPending) await this.drainPending();
    return !this.clearAllPending && !this.pending.has(id);
  }

  private drainPending(): Promise<void> {
    this.draining ??= this.applyPending().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async applyPending(): Promise<void> {
    if (!this.available) return;
    try {
      if (this.clearAllPending) {
        await this.clear();
        return;
      }
      const ids = [...this.pending];
      for (let start = 0; start < ids.length; start += 500) {
        const batch = ids.slice(start, start + 500);
        await this.redis.del(...batch.flatMap((id) => [this.keys.entry(id), this.keys.lease(id)]));
        for (const id of batch) this.pending.delete(id);
        this.stats.countInvalidation();
      }
    } catch (error) {
      this.failed(error);
    }
  }

  private reportOutage(error: Error): void {
    if (this.outage) return;
    this.outage = true;
    this.logger.warn(`Redis unavailable, serving from Postgres until it is back: ${error.message}`);
  }
}
