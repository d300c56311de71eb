import type { DataSource, QueryRunner } from 'typeorm';
import type { DomainError } from '../errors/domain.errors';
import { IdempotencyKeyInUseError } from '../errors/domain.errors';
import { translateDatabaseErrors } from '../database/database-errors';
import { queryRows } from '../database/query-rows';
import {
  claimDigest,
  type IdempotencyClaim,
  type IdempotentWrite,
  replayFor,
  type StoredOutcome,
  type WriteOptions,
} from './idempotency';

/** Runs one statement and returns its rows. */
export type RowQuery = <R>(sql: string, parameters: unknown[]) => Promise<R[]>;

/** One in this many idempotent writes also deletes a batch of expired records. */
const PRUNE_EVERY = 100;

interface StoredRow {
  fingerprint: string;
  status: number;
  body: unknown;
  etag: string | null;
}

/** The unexpired outcome stored for a claim, read outside any transaction (the fast path of a retry). */
export async function findStoredOutcome(
  dataSource: DataSource,
  claim: IdempotencyClaim,
): Promise<StoredOutcome | null> {
  const rows = await queryRows<StoredRow>(
    dataSource,
    'SELECT fingerprint, status, body, etag FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at > now()',
    [claim.scope, claim.key],
  );
  return rows[0] === undefined ? null : toOutcome(rows[0]);
}

/**
 * Runs a write's statements. Plain writes run each statement on its own, as before. An idempotent write runs
 * them in one transaction that first takes a transaction-scoped advisory lock on the key (held by a running
 * request: 409; released by commit, rollback or a dead connection), replays an outcome a concurrent request
 * stored meanwhile, and stores its own outcome before it commits: the row and the record of the answer
 * commit together or not at all, so a retry either replays the answer or finds nothing was written.
 */
export async function runWrite<T>(
  dataSource: DataSource,
  options: WriteOptions<T> | undefined,
  work: (query: RowQuery) => Promise<T>,
  onUniqueViolation?: () => DomainError,
): Promise<T>;
export async function runWrite<T>(
  dataSource: DataSource,
  options: WriteOptions<T> | undefined,
  work: (query: RowQuery) => Promise<void>,
  onUniqueViolation?: () => DomainError,
): Promise<void>;
export async function runWrite<T>(
  dataSource: DataSource,
  options: WriteOptions<T> | undefined,
  work: (query: RowQuery) => Promise<T | void>,
  onUniqueViolation?: () => DomainError,
): Promise<T | void> {
  const idempotency = options?.idempotency;
  if (idempotency === undefined) {
    return work((sql, parameters) => queryRows(dataSource, sql, parameters, onUniqueViolation));
  }
  return translateDatabaseErrors(async () => {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await claimKey(runner, idempotency);
      const result = await work(async <R>(sql: string, parameters: unknown[]) => {
        const answer = await runner.query(sql, parameters, true);
        return answer.records as R[];
      });
      await storeOutcome(runner, idempotency, idempotency.response(result ?? undefined));
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }, onUniqueViolation);
}

async function claimKey(runner: QueryRunner, claim: IdempotencyClaim): Promise<void> {
  const digest = claimDigest(claim);
  const [lock] = (await runner.query('SELECT pg_try_advisory_xact_lock($1, $2) AS locked', [
    digest.readInt32BE(0),
    digest.readInt32BE(4),
  ])) as { locked: boolean }[];
  if (!lock?.locked) throw new IdempotencyKeyInUseError();
  const [stored] = (await runner.query(
    'SELECT fingerprint, status, body, etag FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at > now()',
    [claim.scope, claim.key],
  )) as StoredRow[];
  if (stored !== undefined) throw replayFor(toOutcome(stored), claim);
}

async function storeOutcome<T>(
  runner: QueryRunner,
  write: IdempotentWrite<T>,
  response: { status: number; body: unknown; etag?: string },
): Promise<void> {
  await runner.query(
    `INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, etag, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
     ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
       body = EXCLUDED.body, etag = EXCLUDED.etag, expires_at = EXCLUDED.expires_at`,
    [
      write.scope,
      write.key,
      write.fingerprint,
      response.status,
      JSON.stringify(response.body ?? null),
      response.etag ?? null,
      write.ttlSeconds,
    ],
  );
  if (Math.random() * PRUNE_EVERY < 1) {
    await runner.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT 1000)`,
    );
  }
}

function toOutcome(row: StoredRow): StoredOutcome {
  return { fingerprint: row.fingerprint, status: row.status, body: row.body, etag: row.etag ?? undefined };
}

/** The errors a store throws for a record that is missing (404) or has moved past `If-Match` (412). */
export interface RecordErrors {
  notFound(id: number): Error;
  preconditionFailed(id: number): Error;
}

/**
 * Why a conditional `UPDATE … WHERE id = $1 AND version = ANY(…)` touched no row: the record is gone (404),
 * or it exists with another version (412). Asked in the same transaction as the write.
 */
export async function whyNotWritten(query: RowQuery, table: string, id: number, errors: RecordErrors): Promise<Error> {
  const rows = await query<{ id: number }>(`SELECT id FROM ${table} WHERE id = $1`, [id]);
  return rows.length === 0 ? errors.notFound(id) : errors.preconditionFailed(id);
}

/** Deletes row `id` of `table`, only while its version is one `If-Match` named (when it named any). */
export async function deleteRecord<T>(
  dataSource: DataSource,
  table: string,
  id: number,
  options: WriteOptions<T> | undefined,
  errors: RecordErrors,
): Promise<void> {
  await runWrite(dataSource, options, async (query) => {
    const rows = await query<{ id: number }>(
      `DELETE FROM ${table} WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2::int[])) RETURNING id`,
      [id, options?.ifMatch ?? null],
    );
    if (rows.length === 0) throw await whyNotWritten(query, table, id, errors);
  });
}
