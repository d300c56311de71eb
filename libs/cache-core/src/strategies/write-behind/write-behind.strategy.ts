import {
  CacheUnavailableError,
  ConflictError,
  DatabaseUnavailableError,
  DomainError,
  type IdempotencyClaim,
  IdempotencyKeyInUseError,
  IdempotentReplay,
  replayFor,
  ShuttingDownError,
  type DerivedMetric,
  type StoredOutcome,
  WriteBehindConfig,
  type WriteOptions,
} from '@app/common';
import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { CacheableRecord, PatternStatsExtras } from '../../cache-strategy';
import type { Change } from './change';
import { ChangeLog } from './change-log';
import type { ChangeLogStats } from './change-log-stats';
import { IdempotencyRecords } from './idempotency-records';
import { RecordCache } from '../../records/record-cache';
import { cacheWriteFailure } from '../../redis/redis-connections';
import { counter, gauge } from '../../stats/cache-metrics';
import { CacheStats } from '../../stats/cache-stats';
import { BaseRecordStrategy, type StrategyRead } from '../base-record.strategy';
import { FlushTrigger } from './flush-trigger';
import { IdBlock } from './id-block';
import { REFUSAL_REASONS, REFUSED_STAT, WriteAdmission } from './write-admission';
import { WriteBehindStore } from './write-behind-store';

const CHANGE_LOG_STATS = [
  'cachedWrites',
  'coalesced',
  'dbFlushes',
  'flushedRows',
  'deadLettered',
  'pendingWrites',
  'oldestPendingMs',
  'lastFlush',
  'settled',
  'missingChanges',
] as const satisfies readonly (keyof ChangeLogStats)[];

/** Concurrent changes of one record retry on top of each other; past this many tries the caller gets 409. */
const MAX_CONFLICT_RETRIES = 20;

/**
 * Write-behind (write-back): a write answers once the change is durable in Redis (row and change-log entry in
 * one script) and reaches Postgres later, batched and coalesced, through a BullMQ worker. Reads see accepted
 * changes at once, also while Postgres is down; rows with unflushed changes never expire; a deleted record is
 * gone at once and never comes back. Ids come from the Postgres sequence in blocks; unique emails are checked
 * at request time. Consistency: read-your-writes in the app; Postgres lags by the flush delay, and a crash of
 * Redis loses what its persistence had not written (about a second with `appendfsync everysec`). With Redis
 * away, writes and reads answer 503 rather than risk losing or hiding an accepted change. `If-Match` is checked
 * by the accept script's version compare-and-set, and an idempotent write's answer is stored by that script.
 */
@Injectable()
export class WriteBehindStrategy<T extends CacheableRecord, C, U>
  extends BaseRecordStrategy<T, C, U>
  implements BeforeApplicationShutdown
{
  readonly pattern = 'write-behind' as const;
  protected override readonly shareReads = false;
  private readonly ids: IdBlock;
  private accepting = true;

  constructor(
    cache: RecordCache,
    private readonly writeStore: WriteBehindStore<T, C, U>,
    stats: CacheStats,
    private readonly log: ChangeLog,
    private readonly trigger: FlushTrigger,
    private readonly idempotency: IdempotencyRecords,
    private readonly options: WriteBehindConfig,
    private readonly admission: WriteAdmission,
  ) {
    super(cache, writeStore, stats);
    this.ids = new IdBlock(this.writeStore);
  }

  beforeApplicationShutdown(): void {
    this.accepting = false;
  }

  override async create(input: C, options?: WriteOptions<T>): Promise<T> {
    this.assertAccepting();
    return this.idempotently(options, async () => {
      this.admission.assertAccepting();
      const record = this.writeStore.build(await this.ids.next(), input, new Date());
      await this.accept({ kind: 'put', record }, 0, null, options);
      return record;
    });
  }

  override async update(id: number, changes: U, options?: WriteOptions<T>): Promise<T> {
    this.assertAccepting();
    return this.idempotently(options, async () => {
      this.admission.assertAccepting();
      const patched = options?.idempotency === undefined ? await this.patch(id, changes, options) : undefined;
      if (patched !== undefined) return patched;
      for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt += 1) {
        const current = await this.current(id, options);
        const next = this.writeStore.merge(current, changes, new Date());
        const previous = this.writeStore.uniqueKey(current);
        if (await this.accept({ kind: 'put', record: next }, current.version, previous, options)) return next;
      }
      throw new ConflictError(`Too many concurrent changes of ${id}, try again`);
    });
  }

  override async remove(id: number, options?: WriteOptions<T>): Promise<void> {
    this.assertAccepting();
    await this.idempotently(options, async () => {
      this.admission.assertAccepting();
      for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt += 1) {
        const current = await this.current(id, options);
        const deletion: Change<T> = { kind: 'delete', id, version: current.version + 1 };
        if (await this.accept(deletion, current.version, this.writeStore.uniqueKey(current), options)) return;
      }
      throw new ConflictError(`Too many concurrent changes of ${id}, try again`);
    });
  }

  override async storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    return this.inRedis(() => this.idempotency.storedOutcome(claim), notAnswered);
  }

  /** The change log's counters, from Redis; null each while Redis cannot be read (`/stats` still answers). */
  override async statsExtras(): Promise<Record<string, number | string | null>> {
    const admission = {
      refusingWrites: this.admission.refusal?.reason ?? null,
      ...Object.fromEntries(
        [...this.admission.refusedCounts()].map(([reason, count]) => [REFUSED_STAT[reason], count]),
      ),
    };
    const log = await this.cache.attempt(
      () => this.log.stats(),
      () => Object.fromEntries(CHANGE_LOG_STATS.map((name) => [name, null])),
    );
    return { ...log, ...admission };
  }

  /** Read from the change log in Redis, so every instance (API or worker) reports the same app-wide values. */
  override extraMetrics(): DerivedMetric<PatternStatsExtras>[] {
    return [
      gauge('write_behind_pending', 'Records with accepted changes not yet in PostgreSQL', (s) => s.pendingWrites),
      gauge(
        'write_behind_oldest_pending_age_seconds',
        'Age of the oldest accepted change not yet in PostgreSQL (0 when none)',
        (s) => (s.pendingWrites === null ? null : Number(s.oldestPendingMs ?? 0) / 1000),
      ),
      counter('write_behind_accepted_total', 'Changes accepted into Redis', (s) => s.cachedWrites),
      counter('write_behind_coalesced_total', 'Accepted changes merged into one already pending', (s) => s.coalesced),
      counter('write_behind_flushes_total', 'Flush batches written to PostgreSQL', (s) => s.dbFlushes),
      counter('write_behind_flushed_rows_total', 'Rows written to PostgreSQL by flushes', (s) => s.flushedRows),
      gauge('write_behind_dead_letters', 'Changes PostgreSQL refused, kept for replay', (s) => s.deadLettered),
      counter(
        'write_behind_missing_changes_total',
        'Records whose accepted changes vanished from Redis before reaching PostgreSQL (eviction, flush, failover)',
        (s) => s.missingChanges,
      ),
      {
        name: 'write_behind_refusing_writes',
        help: 'Whether writes are refused now (1) and why: eviction-policy, memory, pending',
        type: 'gauge',
        labelNames: ['reason'],
        samples: (s) => REFUSAL_REASONS.map((reason) => [{ reason }, s.refusingWrites === reason ? 1 : 0]),
      },
      {
        name: 'write_behind_refused_writes_total',
        help: 'Writes answered 503 before reaching Redis, by reason (this instance)',
        type: 'counter',
        labelNames: ['reason'],
        samples: (s) => REFUSAL_REASONS.map((reason) => [{ reason }, Number(s[REFUSED_STAT[reason]] ?? 0)]),
      },
    ];
  }

  protected override async read(id: number): Promise<StrategyRead<T>> {
    const cached = await this.cache.lookup<T>(id);
    if (cached.kind === 'unavailable')
      throw new CacheUnavailableError('Cache unavailable: unflushed changes cannot be read');
    if (cached.kind === 'hit') return { value: cached.value, outcome: 'HIT', tier: cached.tier };
    const deleted = await this.cache.isDeleted(id).catch(async (error: unknown) => {
      await this.cache.endMiss(id, cached.lease);
      throw error;
    });
    if (deleted) {
      await this.cache.endMiss(id, cached.lease);
      return { value: null, outcome: 'HIT' };
    }
    return this.afterMiss(id, cached, async (from) => {
      const row = await this.store.findById(id, from);
      this.stats.countDbRead();
      return row;
    });
  }

  /**
   * A write-path Redis call (nothing tried while the write connection is down). A domain error (404, 409, 412)
   * or an idempotent replay passes through; any other failure is counted and answered with `failure`'s 503.
   */
  private async inRedis<R>(call: () => Promise<R>, failure: (error: unknown) => Error = cacheWriteFailure): Promise<R> {
    if (!this.cache.writable) throw new CacheUnavailableError();
    try {
      return await call();
    } catch (error) {
      if (error instanceof DomainError || error instanceof IdempotentReplay) throw error;
      this.cache.failed(error);
      throw failure(error);
    }
  }

  /**
   * The latest accepted state: the row in Redis, else Postgres (which is current when Redis has nothing).
   * A 412 when it is not a version `If-Match` named; the accept script then makes sure it still is.
   */
  private async current(id: number, options: WriteOptions<T> | undefined): Promise<T> {
    const latest = await this.inRedis(() => this.cache.latest<T>(id), notAnswered);
    if (latest.deleted) throw this.store.notFound(id);
    let current = latest.value;
    if (current === null) {
      current = await this.store.findById(id);
      this.stats.countDbRead();
    }
    if (current === null) throw this.store.notFound(id);
    if (options?.ifMatch !== undefined && !options.ifMatch.includes(current.version)) {
      throw this.store.preconditionFailed(id);
    }
    return current;
  }

  /** Runs a write holding its `Idempotency-Key`, if it has one (Redis away: nothing was written, 503). */
  private async idempotently<R>(options: WriteOptions<T> | undefined, work: () => Promise<R>): Promise<R> {
    const claim = options?.idempotency;
    if (claim === undefined) return work();
    return this.inRedis(() => this.idempotency.holding(claim, work));
  }

  /**
   * An update in one round trip, when it can be one: the accept script merges the changed fields into the row
   * in Redis. Undefined when it cannot (the change touches the unique key, or Redis holds no row to merge into):
   * the caller reads the current record and accepts the merged one instead.
   */
  private async patch(id: number, changes: U, options: WriteOptions<T> | undefined): Promise<T | undefined> {
    const fields = this.writeStore.patchOf(changes, new Date());
    if (fields === null) return undefined;
    const result = await this.inRedis(() => this.log.patch<T>(id, fields, options?.ifMatch, this.options.maxPending));
    if (result === 'full') this.admission.pendingLimitReached();
    if (result === 'absent') return undefined;
    if (result === 'gone') throw this.store.notFound(id);
    if (result === 'precondition') throw this.store.preconditionFailed(id);
    this.accepted(id, result);
    return result;
  }

  /** True once accepted; false when another change of the record won the race (the caller retries). */
  private async accept(
    change: Change<T>,
    expectedVersion: number,
    previousUnique: string | null,
    options: WriteOptions<T> | undefined,
  ): Promise<boolean> {
    const next = change.kind === 'put' ? this.writeStore.uniqueKey(change.record) : null;
    const id = change.kind === 'put' ? change.record.id : change.id;
    let postgresOwner: number | null = null;
    if (next !== null && next !== previousUnique) {
      // Best effort while Postgres is away: the unique index still guards it at flush time (dead letter).
      postgresOwner = await this.writeStore.uniqueKeyOwner(next).catch((error: unknown) => {
        if (error instanceof DatabaseUnavailableError) return null;
        throw error;
      });
    }
    const write = options?.idempotency;
    const answer =
      write === undefined
        ? undefined
        : this.idempotency.answer(write, change.kind === 'put' ? change.record : undefined);
    const result = await this.inRedis(() =>
      this.log.accept(
        change,
        expectedVersion,
        { next, previous: previousUnique, postgresOwner },
        answer,
        this.options.maxPending,
      ),
    );
    if (result === 'duplicate' && write !== undefined) {
      const stored = await this.idempotency.storedOutcome(write);
      if (stored !== null) throw replayFor(stored, write);
      throw new IdempotencyKeyInUseError();
    }
    if (result === 'full') this.admission.pendingLimitReached();
    if (result === 'gone') throw this.store.notFound(id);
    if (result === 'conflict') throw this.writeStore.uniqueConflict(next ?? '');
    // Another change won: the caller reads the new current state (a 412 there if If-Match no longer holds).
    if (result === 'retry') return false;
    this.accepted(id, change.kind === 'put' ? change.record : null);
    return true;
  }

  /** After a change of `id` is durable in Redis: counted, in this instance's near cache, a flush on its way. */
  private accepted(id: number, record: T | null): void {
    this.stats.countCacheWrite();
    this.cache.acceptedHere(id, record);
    this.written(id);
    this.trigger.soon();
  }

  private assertAccepting(): void {
    if (!this.accepting) throw new ShuttingDownError();
  }
}

/** The 503 of a read on the write path that Redis did not answer. */
function notAnswered(): CacheUnavailableError {
  return new CacheUnavailableError();
}
