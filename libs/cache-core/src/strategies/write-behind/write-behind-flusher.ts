import { DatabaseUnavailableError, DomainError, WriteBehindConfig } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import type { CacheableRecord } from '../../cache-strategy';
import { RecordCache } from '../../records/record-cache';
import { CacheStats } from '../../stats/cache-stats';
import type { Change } from './change';
import { ChangeLog } from './change-log';
import { RedisMemory } from '../../redis/redis-memory';
import { WriteAdmission } from './write-admission';
import { WriteBehindStore, type DeletedRecord } from './write-behind-store';

function versionOf<T extends CacheableRecord>(change: Change<T>): { id: number; version: number } {
  return change.kind === 'put'
    ? { id: change.record.id, version: change.record.version }
    : { id: change.id, version: change.version };
}

/**
 * What a client may be told about why Postgres refused a change: the domain error's own message, or the SQLSTATE
 * of a database error, never its text (which can quote data, constraint and table names).
 */
function refusal(error: unknown): string {
  if (error instanceof DomainError) return error.message;
  const code =
    (error as { driverError?: { code?: unknown }; code?: unknown }).driverError?.code ??
    (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
    ? `Postgres refused the change (SQLSTATE ${code})`
    : 'Postgres refused the change';
}

/** Milliseconds from `marks[index]` to the next mark, to a tenth. */
function phaseMs(marks: number[], index: number): string {
  return ((marks[index + 1] ?? Number.NaN) - (marks[index] ?? Number.NaN)).toFixed(1);
}

/** The last flush that failed, for `POST /flush?wait=true` to say what it waits for. */
export interface FlushFailure {
  at: number;
  message: string;
}

/**
 * Moves accepted changes from the change log into Postgres, a batch at a time: claim, read the latest state
 * of each claimed id (so many changes of one record become one write), one transaction of versioned upserts
 * and deletes, then acknowledge. When the batch fails for one change, the changes are retried one by one so
 * the bad one is isolated, backed off, and dead-lettered after `maxAttempts` without holding back the others.
 * When Postgres is away the whole batch is put back and the flush fails, for BullMQ to retry.
 */
@Injectable()
export class WriteBehindFlusher<T extends CacheableRecord = CacheableRecord> {
  private readonly logger = new Logger(WriteBehindFlusher.name);
  private stopping = false;
  /** Ids this process claimed and could not acknowledge or release (Redis went away mid-flush). */
  private readonly owed = new Set<number>();
  private failure?: FlushFailure;

  constructor(
    private readonly log: ChangeLog,
    private readonly cache: RecordCache,
    private readonly stats: CacheStats,
    private readonly store: WriteBehindStore<T>,
    private readonly options: WriteBehindConfig,
    private readonly admission: WriteAdmission,
    private readonly memory: RedisMemory,
  ) {}

  /** Why the last flush failed, unless one has succeeded since. */
  get lastFailure(): FlushFailure | undefined {
    return this.failure;
  }

  /** Stop after the batch in hand. */
  stop(): void {
    this.stopping = true;
  }

  /** Flushes batches until nothing is eligible, `maxBatches` were written, or shutdown began. */
  async drain(maxBatches: number): Promise<{ rows: number; more: boolean }> {
    await this.releaseOwed();
    let rows = 0;
    for (let batch = 0; batch < maxBatches; batch += 1) {
      if (this.stopping) return { rows, more: true };
      const flushed = await this.flushBatch();
      if (flushed === 0) return { rows, more: false };
      rows += flushed;
    }
    return { rows, more: true };
  }

  /** One batch; returns how many ids it claimed. */
  async flushBatch(): Promise<number> {
    let ids: number[];
    const claimed = performance.now();
    try {
      ids = await this.log.claim(this.options.batchSize, this.options.claimTimeoutMs);
    } catch (error) {
      throw this.failed(error, 'Redis refused the claim');
    }
    if (ids.length === 0) {
      this.failure = undefined;
      return 0;
    }
    try {
      const flushed = await this.flushClaimed(ids, claimed);
      this.failure = undefined;
      return flushed;
    } catch (error) {
      // Released already when Postgres was the problem; otherwise Redis failed under us: settle them later.
      if (!(error instanceof DatabaseUnavailableError)) for (const id of ids) this.owed.add(id);
      throw this.failed(error, error instanceof DatabaseUnavailableError ? 'Postgres' : 'Redis');
    }
  }

  private failed(error: unknown, where: string): unknown {
    this.failure = { at: Date.now(), message: `${where}: ${(error as Error).message}` };
    return error;
  }

  /** Flushed rows stay as cache entries for the TTL, unless Redis is short of memory: then Postgres serves them. */
  private entryTtlMs(): number {
    return this.admission.memoryPressure ? 0 : this.cache.fullTtlMs;
  }

  /** Puts owed claims back at once rather than leaving them invisible until the claim timeout. */
  private async releaseOwed(): Promise<void> {
    if (this.owed.size === 0) return;
    const ids = [...this.owed];
    await this.log.release(ids, 0);
    for (const id of ids) this.owed.delete(id);
  }

  /** `started`: when the claim was sent (`performance.now()`), for the debug line's phase times. */
  private async flushClaimed(ids: number[], started: number): Promise<number> {
    const phases = [started, performance.now()];
    const { changes, undecodable } = await this.log.read<T>(ids);
    phases.push(performance.now());
    for (const id of undecodable) {
      await this.log.fail(id, 0, 'The stored change cannot be decoded', 1, this.options.backoffMs);
      this.logger.warn(`Change of ${id} dead-lettered: its stored value in Redis cannot be decoded`);
    }
    const found = new Set([...changes.map((change) => versionOf(change).id), ...undecodable]);
    const orphans = ids.filter((id) => !found.has(id)).map((id) => ({ id, version: -1 }));
    let written = changes;
    try {
      await this.write(changes);
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        await this.log.release(ids, this.options.backoffMs);
        throw error;
      }
      written = await this.isolate(changes);
    }
    phases.push(performance.now());
    // A Redis error from here on fails the job: the claims time out and the (idempotent) writes are redone.
    const { missing } = await this.log.ack(
      [...written.map((change) => this.settled(change)), ...orphans],
      written.length,
      this.entryTtlMs(),
    );
    phases.push(performance.now());
    if (written.length > 0) this.stats.countDbWrite(written.length);
    if (missing > 0) {
      this.logger.error(
        `${missing} records had accepted changes that vanished from Redis before they reached Postgres ` +
          `(among ids ${orphans
            .map(({ id }) => id)
            .slice(0, 20)
            .join(', ')}): likely cause: ${this.memory.lossCause()}`,
      );
    }
    this.logger.debug(
      `Flushed a batch of ${ids.length} claimed: ${written.length} written to PostgreSQL, ` +
        `${changes.length - written.length} held back, ${orphans.length} with no stored change; ` +
        `ms claiming ${phaseMs(phases, 0)}, reading ${phaseMs(phases, 1)}, writing ${phaseMs(phases, 2)}, ` +
        `acknowledging ${phaseMs(phases, 3)}`,
    );
    return ids.length;
  }

  /** Writes the changes one by one; returns those Postgres took, backs off or dead-letters the others. */
  private async isolate(changes: Change<T>[]): Promise<Change<T>[]> {
    const written: Change<T>[] = [];
    for (const [index, change] of changes.entries()) {
      try {
        await this.write([change]);
        written.push(change);
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) {
          await this.log.ack(
            written.map((done) => this.settled(done)),
            written.length,
            this.entryTtlMs(),
          );
          if (written.length > 0) this.stats.countDbWrite(written.length);
          await this.log.release(
            changes.slice(index).map((rest) => versionOf(rest).id),
            this.options.backoffMs,
          );
          throw error;
        }
        const { id, version } = versionOf(change);
        const reason = refusal(error);
        const outcome = await this.log.fail(id, version, reason, this.options.maxAttempts, this.options.backoffMs);
        // The full text goes to the log once; clients of /dead-letters see only the summary.
        if (outcome === 'dead') this.logger.warn(`Change ${id}@${version} dead-lettered: ${String(error)}`);
      }
    }
    return written;
  }

  /** What the ack needs of a written change: its version, and the unique value its claim may release. */
  private settled(change: Change<T>): { id: number; version: number; unique: string | null } {
    return { ...versionOf(change), unique: change.kind === 'put' ? this.store.uniqueKey(change.record) : null };
  }

  private write(changes: Change<T>[]): Promise<void> {
    const upserts: T[] = [];
    const deletes: DeletedRecord[] = [];
    for (const change of changes) {
      if (change.kind === 'put') upserts.push(change.record);
      else deletes.push({ id: change.id, version: change.version });
    }
    return this.store.applyBatch(upserts, deletes);
  }
}
