import type { CacheableRecord } from '../../cache-strategy';
import { RecordStore } from '../../record-store';

/** A deletion as write-behind records it: the record's last version plus one. */
export interface DeletedRecord {
  id: number;
  version: number;
}

/**
 * What write-behind needs from the system of record beyond {@link RecordStore}: ids reserved up front,
 * records built and merged in memory (Postgres sees them later), a unique key checked at request time, and
 * batched, versioned, idempotent writes.
 */
export abstract class WriteBehindStore<
  T extends CacheableRecord = CacheableRecord,
  C = unknown,
  U = unknown,
> extends RecordStore<T, C, U> {
  /** `count` ids from the Postgres sequence: never an id Postgres has given or will give to anyone else. */
  abstract reserveIds(count: number): Promise<number[]>;

  /** A new record at version 1. */
  abstract build(id: number, input: C, now: Date): T;

  /** `current` with `changes` applied, version incremented. */
  abstract merge(current: T, changes: U, now: Date): T;

  /**
   * The fields `changes` sets, with the update time, for the accept script to merge into the row in Redis
   * (version incremented there); null when the change needs the current record first: it touches the unique key.
   */
  abstract patchOf(changes: U, now: Date): Partial<T> | null;

  /** The value that must be unique across records (lower-cased email), or null. */
  abstract uniqueKey(record: T): string | null;

  /** The 409 for a unique key someone else holds. */
  abstract uniqueConflict(key: string): Error;

  /** Which record holds `key` in Postgres, or null. Throws when Postgres is unreachable. */
  abstract uniqueKeyOwner(key: string): Promise<number | null>;

  /**
   * Writes a batch in one transaction: each upsert only if newer than the row in Postgres and never for a
   * deleted id; each delete removes the row and remembers the id as deleted. Safe to repeat.
   */
  abstract applyBatch(upserts: T[], deletes: DeletedRecord[]): Promise<void>;
}
