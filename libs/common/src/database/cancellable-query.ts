import type { Pool, PoolClient } from 'pg';

/**
 * Takes `client`, checked out of a pool for the caller's own use, into care: returns the function that gives it
 * back (`destroy`: close it instead). pg emits `error` on a client whose connection drops while it runs no
 * statement (between two, or while a cancel is on its way), and an `error` nobody listens to ends the process; a
 * pool listens only to the clients it holds. A held client is listened to until it goes back (the pool listens
 * then), or for good once destroyed (its socket may still report the drop). The failure itself reaches the
 * caller through the statement that was running, or the next one.
 */
export function holdClient(client: PoolClient): (destroy?: boolean | Error) => void {
  const ignore = (): void => undefined;
  client.on('error', ignore);
  return (destroy) => {
    if (destroy === undefined || destroy === false) client.off('error', ignore);
    client.release(destroy);
  };
}

/** How long the cancel request itself may take (it runs on another connection of the same pool). */
const CANCEL_WITHIN_MS = 2000;

/**
 * Runs `sql` on a client of its own from `pool`. If `signal` aborts before Postgres answers (the reader gave up:
 * `CACHE_LOAD_TIMEOUT_MS`), the statement is cancelled in Postgres (`pg_cancel_backend` from another connection,
 * as psql's Ctrl-C) rather than left running until `statement_timeout`, and the call rejects with Postgres's
 * "canceling statement" error. A client that was sent a cancel is closed, not returned to the pool: a cancel that
 * lands after its statement ended must not meet the next one. Without a connection to spare the cancel waits for
 * one, bounded, and the statement still ends at `statement_timeout`.
 */
export async function cancellableQuery<R>(
  pool: Pool,
  sql: string,
  parameters: unknown[],
  signal: AbortSignal,
): Promise<R[]> {
  signal.throwIfAborted();
  const client = await pool.connect();
  const release = holdClient(client);
  let cancelled: Promise<void> | undefined;
  const cancel = (): void => {
    cancelled = cancelBackend(pool, client);
  };
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return (await client.query(sql, parameters)).rows as R[];
  } finally {
    signal.removeEventListener('abort', cancel);
    // Released only once the cancel was sent (or gave up), so it can only ever reach this statement.
    if (cancelled !== undefined) await cancelled;
    release(cancelled !== undefined);
  }
}

async function cancelBackend(pool: Pool, client: PoolClient): Promise<void> {
  const pid = (client as PoolClient & { processID: number | null }).processID;
  if (pid === null) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, CANCEL_WITHIN_MS))),
  ]).finally(() => clearTimeout(timer));
}
