import { QueryFailedError } from 'typeorm';
import { ConflictError, DatabaseUnavailableError, type DomainError } from '../errors/domain.errors';

const UNIQUE_VIOLATION = '23505';
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
/** Failures to connect at all, and Postgres refusing the connection: nothing was sent. */
const BEFORE_SENDING_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', '08001', '08004']);

function sqlState(error: unknown): string | undefined {
  const source = error instanceof QueryFailedError ? (error.driverError as unknown) : error;
  const code = (source as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for errors that mean "Postgres is away or too slow", as opposed to a bad statement. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = sqlState(error);
  if (
    code !== undefined &&
    (NETWORK_CODES.has(code) || code.startsWith('08') || code.startsWith('57') || code === '53300')
  ) {
    return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /timeout|terminated|Connection .*(ended|closed)|connect ECONN|not queryable|Client has encountered a connection error/i.test(
    message,
  );
}

/**
 * True when the failure happened before the statement reached Postgres (no connection), or Postgres itself
 * cancelled it (statement timeout), so nothing was written. Anything else (a connection lost while waiting for
 * the answer) leaves a write's outcome unknown.
 */
export function failedBeforeApplying(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== undefined && (BEFORE_SENDING_CODES.has(code) || code === '57014' || code === '53300')) return true;
  const message = error instanceof Error ? error.message : '';
  return /trying to connect|connection timeout|connect ECONN|getaddrinfo/i.test(message);
}

/**
 * Runs a database call and turns driver errors into domain errors: a unique violation into what
 * `onUniqueViolation` returns (usually a {@link ConflictError}), an outage or timeout into
 * {@link DatabaseUnavailableError}. Anything else is rethrown unchanged and ends as a logged 500.
 */
export async function translateDatabaseErrors<T>(
  work: () => Promise<T>,
  onUniqueViolation: () => DomainError = () => new ConflictError('Duplicate value'),
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw onUniqueViolation();
    if (isDatabaseUnavailable(error)) {
      throw new DatabaseUnavailableError(undefined, failedBeforeApplying(error) ? 'not-applied' : 'unknown');
    }
    throw error;
  }
}
