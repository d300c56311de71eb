import {
  ConflictError,
  findStoredOutcome,
  type IdempotencyClaim,
  deleteRecord,
  queryRows,
  type ReadSource,
  runWrite,
  whyNotWritten,
  type StoredOutcome,
  translateDatabaseErrors,
  type WriteOptions,
} from '@app/common';
import { type DeletedRecord, WriteBehindStore } from '@app/cache-core';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type NewUser, type UserChanges, type UserRecord, type UserRow, toUserRecord } from './user.record';

const COLUMNS = 'id, name, email, age, version, created_at, updated_at';
const CHANGEABLE: (keyof NewUser)[] = ['name', 'email', 'age'];

/** Users in Postgres: the system of record every strategy reads and writes through. */
@Injectable()
export class UserStore extends WriteBehindStore<UserRecord, NewUser, UserChanges> {
  readonly entityName = 'user';

  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async findById(id: number, from?: ReadSource): Promise<UserRecord | null> {
    const sql = `SELECT ${COLUMNS} FROM users WHERE id = $1`;
    const rows = from === undefined ? await this.query<UserRow>(sql, [id]) : await from.query<UserRow>(sql, [id]);
    return rows[0] === undefined ? null : toUserRecord(rows[0]);
  }

  async insert(input: NewUser, options?: WriteOptions<UserRecord>): Promise<UserRecord> {
    return runWrite(
      this.dataSource,
      options,
      async (query) => {
        const rows = await query<UserRow>(
          `INSERT INTO users (name, email, age) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
          [input.name, input.email, input.age],
        );
        return toUserRecord(rows[0]!);
      },
      () => this.uniqueConflict(input.email),
    );
  }

  /**
   * One statement: the changed fields, `version + 1` and `updated_at`, only while the version is one
   * `If-Match` named (when it named any), returning the new row.
   */
  async update(id: number, changes: UserChanges, options?: WriteOptions<UserRecord>): Promise<UserRecord> {
    const fields = CHANGEABLE.filter((field) => changes[field] !== undefined);
    const assignments = fields.map((field, index) => `${field} = $${index + 3}`);
    return runWrite(
      this.dataSource,
      options,
      async (query) => {
        const rows = await query<UserRow>(
          `UPDATE users SET ${[...assignments, 'version = version + 1', 'updated_at = now()'].join(', ')}
           WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2::int[])) RETURNING ${COLUMNS}`,
          [id, options?.ifMatch ?? null, ...fields.map((field) => changes[field])],
        );
        if (rows[0] === undefined) throw await whyNotWritten(query, 'users', id, this);
        return toUserRecord(rows[0]);
      },
      () => this.uniqueConflict(changes.email ?? ''),
    );
  }

  delete(id: number, options?: WriteOptions<UserRecord>): Promise<void> {
    return deleteRecord(this.dataSource, 'users', id, options, this);
  }

  storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null> {
    return findStoredOutcome(this.dataSource, claim);
  }

  async reserveIds(count: number): Promise<number[]> {
    const rows = await this.query<{ id: number }>(
      `SELECT nextval(pg_get_serial_sequence('users', 'id'))::integer AS id FROM generate_series(1, $1)`,
      [count],
    );
    return rows.map((row) => row.id);
  }

  build(id: number, input: NewUser, now: Date): UserRecord {
    const at = now.toISOString();
    return { id, name: input.name, email: input.email, age: input.age, version: 1, createdAt: at, updatedAt: at };
  }

  merge(current: UserRecord, changes: UserChanges, now: Date): UserRecord {
    return { ...current, ...changedFields(changes), version: current.version + 1, updatedAt: now.toISOString() };
  }

  patchOf(changes: UserChanges, now: Date): Partial<UserRecord> | null {
    if (changes.email !== undefined) return null;
    return { ...changedFields(changes), updatedAt: now.toISOString() };
  }

  uniqueKey(record: UserRecord): string {
    return record.email.toLowerCase();
  }

  uniqueConflict(key: string): ConflictError {
    return new ConflictError(`Email ${key} is already taken`);
  }

  async uniqueKeyOwner(key: string): Promise<number | null> {
    const rows = await this.query<{ id: number }>('SELECT id FROM users WHERE lower(email) = $1', [key]);
    return rows[0]?.id ?? null;
  }

  /**
   * One transaction: versioned upserts (a row changes only if the incoming version is newer, and a deleted id
   * is never inserted again), then deletes that leave a tombstone. Repeating a batch changes nothing.
   */
  async applyBatch(upserts: UserRecord[], deletes: DeletedRecord[]): Promise<void> {
    await translateDatabaseErrors(
      async () => {
        const runner = this.dataSource.createQueryRunner();
        try {
          await runner.startTransaction();
          if (upserts.length > 0) {
            await runner.query(
              `INSERT INTO users (id, name, email, age, version, created_at, updated_at)
             SELECT v.* FROM unnest($1::int[], $2::varchar[], $3::varchar[], $4::int[], $5::int[], $6::timestamptz[], $7::timestamptz[])
               AS v(id, name, email, age, version, created_at, updated_at)
             WHERE NOT EXISTS (SELECT 1 FROM user_tombstones t WHERE t.id = v.id)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, age = EXCLUDED.age,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE users.version < EXCLUDED.version`,
              [
                upserts.map((user) => user.id),
                upserts.map((user) => user.name),
                upserts.map((user) => user.email),
                upserts.map((user) => user.age),
                upserts.map((user) => user.version),
                upserts.map((user) => user.createdAt),
                upserts.map((user) => user.updatedAt),
              ],
            );
          }
          if (deletes.length > 0) {
            const ids = deletes.map((deleted) => deleted.id);
            await runner.query('DELETE FROM users WHERE id = ANY($1::int[])', [ids]);
            await runner.query(
              `INSERT INTO user_tombstones (id, version) SELECT * FROM unnest($1::int[], $2::int[]) ON CONFLICT (id) DO NOTHING`,
              [ids, deletes.map((deleted) => deleted.version)],
            );
          }
          await runner.commitTransaction();
        } catch (error) {
          if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
          throw error;
        } finally {
          await runner.release();
        }
      },
      () => new ConflictError('Email is already taken'),
    );
  }

  private query<R>(sql: string, parameters: unknown[], email?: string): Promise<R[]> {
    return queryRows<R>(
      this.dataSource,
      sql,
      parameters,
      () => new ConflictError(`Email ${email ?? ''} is already taken`),
    );
  }
}

/** The fields `changes` sets, and nothing it leaves out. */
function changedFields(changes: UserChanges): Partial<UserRecord> {
  return Object.fromEntries(
    CHANGEABLE.filter((field) => changes[field] !== undefined).map((field) => [field, changes[field]]),
  );
}
