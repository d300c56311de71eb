import { CacheUnavailableError, ConflictError, DatabaseUnavailableError, DomainError } from '@app/common';
import { type BeforeApplicationShutdown, Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { CacheableRecord, CacheRead } from '../../cache-strategy';
import { RecordStore } from '../../record-store';
import { RecordCache } from '../../redis/record-cache';
import { CacheStats } from '../../stats/cache-stats';
import { BaseRecordStrategy } from '../base-record.strategy';
import { type Change, ChangeLog } from './change-log';
import { FlushTrigger } from './flush-trigger';
import { IdBlock } from './id-block';
import { WRITE_BEHIND_OPTIONS, type WriteBehindOptions } from './write-behind.options';
import { WriteBehindStore } from './write-behind-store';

/** Concurrent changes of one record retry on top of each other; past this many tries the caller gets 409. */
const MAX_CONFLICT_RETRIES = 20;

/**
 * Write-behind (write-back): a write answers once the change is durable in Redis (row and change-log entry in
 * one script) and reaches Postgres later, batched and coalesced, through a BullMQ worker. Reads see accepted
 * changes at once, also while Postgres is down; rows with unflushed changes never expire; a deleted record is
 * gone at once and never comes back. Ids come from the Postgres sequence in blocks; unique emails are checked
 * at request time. Consistency: read-your-writes in the app; Postgres lags by the flush delay, and a crash of
 * Redis loses what its persistence had not written (about a second with `appendfsync everysec`). With Redis
 * away, writes and reads answer 503 rather than risk losing or hiding an accepted change.
 */
@Injectable()
export class WriteBehindStrategy<T extends CacheableRecord, C, U>
  extends BaseRecordStrategy<T, C, U>
  implements BeforeApplicationShutdown
{
  readonly pattern = 'write-behind' as const;
  private readonly writeStore: WriteBehindStore<T, C, U>;
  private readonly ids: IdBlock;
  private accepting = true;

  constructor(
    cache: RecordCache,
    store: RecordStore<T, C, U>,
    stats: CacheStats,
    private readonly log: ChangeLog,
    private readonly trigger: FlushTrigger,
    @Inject(WRITE_BEHIND_OPTIONS) private readonly options: WriteBehindOptions,
  ) {
    super(cache, store, stats);
    if (!(store instanceof WriteBehindStore)) throw new Error('write-behind needs a WriteBehindStore');
    this.writeStore = store as WriteBehindStore<T, C, U>;
    this.ids = new IdBlock(this.writeStore);
  }

  beforeApplicationShutdown(): void {
    this.accepting = false;
  }

  override async create(input: C): Promise<T> {
    this.assertAccepting();
    const record = this.writeStore.build(await this.ids.next(), input, new Date());
    await this.accept({ kind: 'put', record }, 0, null);
    return record;
  }

  override async update(id: number, changes: U): Promise<T> {
    this.assertAccepting();
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt += 1) {
      const current = await this.current(id);
      const next = this.writeStore.merge(current, changes, new Date());
      if (await this.accept({ kind: 'put', record: next }, current.version, this.writeStore.uniqueKey(current)))
        return next;
    }
    throw new ConflictError(`Too many concurrent changes of ${id}, try again`);
  }

  override async remove(id: number): Promise<void> {
    this.assertAccepting();
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt += 1) {
      const current = await this.current(id);
      const deletion: Change<T> = { kind: 'delete', id, version: current.version + 1 };
      if (await this.accept(deletion, current.version, this.writeStore.uniqueKey(current))) return;
    }
    throw new ConflictError(`Too many concurrent changes of ${id}, try again`);
  }

  override async statsExtras(): Promise<Record<string, number | string | null>> {
    return { ...(await this.log.stats()) };
  }

  protected override async read(id: number): Promise<CacheRead<T>> {
    const cached = await this.cache.lookup<T>(id);
    if (cached.kind === 'unavailable')
      throw new CacheUnavailableError('Cache unavailable: unflushed changes cannot be read');
    if (cached.kind === 'hit') return { value: cached.value, outcome: 'HIT' };
    if ((await this.cache.redis.exists(this.cache.keys.tombstone(id))) === 1) return { value: null, outcome: 'HIT' };
    const row = await this.store.findById(id);
    this.stats.countDbRead();
    if (row !== null) await this.cache.fill(id, row, cached.lease);
    return { value: row, outcome: 'MISS' };
  }

  /** The latest accepted state: the row in Redis, else Postgres (which is current when Redis has nothing). */
  private async current(id: number): Promise<T> {
    let row: string | null | undefined;
    let tombstone: string | null | undefined;
    try {
      [row, tombstone] = await this.cache.redis.mget(this.cache.keys.entry(id), this.cache.keys.tombstone(id));
    } catch (error) {
      this.cache.failed(error);
      throw new CacheUnavailableError();
    }
    if (tombstone) throw this.store.notFound(id);
    if (row) return JSON.parse(row) as T;
    const stored = await this.store.findById(id);
    this.stats.countDbRead();
    if (stored === null) throw this.store.notFound(id);
    return stored;
  }

  /** True once accepted; false when another change of the record won the race (the caller retries). */
  private async accept(change: Change<T>, expectedVersion: number, previousUnique: string | null): Promise<boolean> {
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
    let result: string;
    try {
      result = await this.log.accept(change, expectedVersion, { next, previous: previousUnique, postgresOwner });
    } catch (error) {
      if (error instanceof DomainError) throw error;
      this.cache.failed(error);
      throw new CacheUnavailableError();
    }
    if (result === 'gone') throw this.store.notFound(id);
    if (result === 'conflict') throw this.writeStore.uniqueConflict(next ?? '');
    if (result === 'retry') return false;
    this.stats.countCacheWrite();
    this.written(id);
    this.trigger.soon();
    return true;
  }

  private assertAccepting(): void {
    if (!this.accepting) throw new ServiceUnavailableException('Shutting down: not accepting writes');
  }
}
