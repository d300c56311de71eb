/** Tuning of write-behind; the README explains each. */
export interface WriteBehindOptions {
  /** `all` serves HTTP and flushes; `api` only serves; `worker` only flushes (no HTTP). */
  role: 'all' | 'api' | 'worker';
  /** Changes per Postgres statement. */
  batchSize: number;
  /** How long a change may wait for others to join its batch, in ms. */
  batchDelayMs: number;
  /** Safety net: a flush is scheduled at least this often even if a trigger was lost, in ms. */
  flushIntervalMs: number;
  /** A change that failed this many times goes to the dead-letter list. */
  maxAttempts: number;
  /** First retry delay of a failed change; doubles per attempt, with jitter, up to 60 s. */
  backoffMs: number;
  /** A claimed change not acknowledged within this time (its worker died) is flushed again, in ms. */
  claimTimeoutMs: number;
}

export const WRITE_BEHIND_OPTIONS = Symbol('WRITE_BEHIND_OPTIONS');
export const WRITE_BEHIND_QUEUE = 'write-behind-flush';
