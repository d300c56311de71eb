import { DatabaseUnavailableError, DomainError, WriteBehindConfig } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import type { CacheableRecord } from '../../cache-strategy';
import { RecordCache } from '../../redis/record-cache';
import { CacheStats } from '../../stats/cache-stats';
import { type Change, ChangeLog } from '../../redis/change-log';
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

  constructor(
    private readonly log: ChangeLog,
    private readonly cache: RecordCache,
    private readonly stats: CacheStats,
    private readonly store: WriteBehindStore<T>,
    private readonly options: WriteBehindConfig,
  ) {}

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
    const ids = await this.log.claim(this.options.batchSize, this.options.claimTimeoutMs);
    if (ids.length === 0) return 0;
    try {
      return await this.flushClaimed(ids);
    } catch (error) {
      // Released already when Postgres was the problem; otherwise Redis failed under us: settle them later.
      if (!(error instanceof DatabaseUnavailableError)) for (const id of ids) this.owed.add(id);
      throw error;
    }
  }

  /** Puts owed claims back at once rather than leaving them invisible until the claim timeout. */
  private async releaseOwed(): Promise<void> {
    if (this.owed.size === 0) return;
    const ids = [...this.owed];
    await this.log.release(ids, 0);
    for (const id of ids) this.owed.delete(id);
  }

  private async flushClaimed(ids: number[]): Promise<number> {
    const { changes, undecodable } = await this.log.read<T>(ids);
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
    // A Redis error from here on fails the job: the claims time out and the (idempotent) writes are redone.
    await this.log.ack([...written.map(versionOf), ...orphans], this.cache.fullTtlMs);
    if (written.length > 0) {
      await this.log.countFlush(written.length);
      this.stats.countDbWrite(written.length);
    }
    this.logger.debug(
      `Flushed a batch of ${ids.length} claimed: ${written.length} written to PostgreSQL, ` +
        `${changes.length - written.length} held back, ${orphans.length} already settled`,
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
          await this.log.ack(written.map(versionOf), this.cache.fullTtlMs);
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
