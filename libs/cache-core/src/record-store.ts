import { NotFoundError } from '@app/common';
import type { CacheableRecord } from './cache-strategy';

/**
 * The system of record (Postgres) as the strategies see it. A lib implements it for its entity and passes it
 * to `CacheCoreModule.forRoot({ store })`. Implementations throw `NotFoundError`, `ConflictError` or
 * `DatabaseUnavailableError` from `@app/common`, never driver errors.
 */
export abstract class RecordStore<T extends CacheableRecord = CacheableRecord, C = unknown, U = unknown> {
  /** Names the entity in cache keys, e.g. `user` in `cache-aside:{user:42}`. */
  abstract readonly entityName: string;

  abstract findById(id: number): Promise<T | null>;

  abstract insert(input: C): Promise<T>;

  /** Applies the changes and increments `version` in one statement; returns the new row. */
  abstract update(id: number, changes: U): Promise<T>;

  abstract delete(id: number): Promise<void>;

  /** The error for a missing record, e.g. `User 42 not found`. */
  notFound(id: number): NotFoundError {
    return new NotFoundError(`${this.entityName.charAt(0).toUpperCase()}${this.entityName.slice(1)} ${id} not found`);
  }
}
