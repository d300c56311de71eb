import {
  type IdempotencyClaim,
  type ReadSource,
  NotFoundError,
  PreconditionFailedError,
  type StoredOutcome,
  type WriteOptions,
} from '@app/common';
import type { CacheableRecord } from './cache-strategy';

/**
 * The system of record (Postgres) as the strategies see it. A lib implements it for its entity and provides it
 * as `RecordStore` from a global store module (`UserStoreModule`, `PostStoreModule`). Implementations throw `NotFoundError`, `ConflictError` or
 * `DatabaseUnavailableError` from `@app/common`, never driver errors.
 */
export abstract class RecordStore<T extends CacheableRecord = CacheableRecord, C = unknown, U = unknown> {
  /** Names the entity in cache keys, e.g. `user` in `cache-aside:{user:42}`. */
  abstract readonly entityName: string;

  /** The record, from the primary, or from `from` (a read replica) when given. */
  abstract findById(id: number, from?: ReadSource): Promise<T | null>;

  /** Inserts; with `options.idempotency`, stores the answer in the same transaction. */
  abstract insert(input: C, options?: WriteOptions<T>): Promise<T>;

  /**
   * Applies the changes and increments `version` in one statement, only if the version is one of
   * `options.ifMatch` when given (else `PreconditionFailedError`); returns the new row.
   */
  abstract update(id: number, changes: U, options?: WriteOptions<T>): Promise<T>;

  /** Deletes, under the same `ifMatch` condition as {@link update}. */
  abstract delete(id: number, options?: WriteOptions<T>): Promise<void>;

  /** The answer an idempotent write stored in Postgres, if any. */
  abstract storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null>;

  /** The error for a missing record, e.g. `User 42 not found`. */
  notFound(id: number): NotFoundError {
    return new NotFoundError(`${this.displayName} ${id} not found`);
  }

  /** The error for a write whose `If-Match` no longer holds. */
  preconditionFailed(id: number): PreconditionFailedError {
    return new PreconditionFailedError(`${this.displayName} ${id} has changed since that ETag; read it again`);
  }

  private get displayName(): string {
    return `${this.entityName.charAt(0).toUpperCase()}${this.entityName.slice(1)}`;
  }
}
