import { DatabaseUnavailableError } from '@app/common';

/**
 * Whether loads from Postgres are failing: set by a load that failed as unavailable (refused, reset, past the
 * hard timeout), cleared by one that answered. A circuit breaker for reads that have something else to answer
 * (a copy of the entry): while it is open they answer that at once instead of each waiting for Postgres to fail
 * again, and one load at a time, in the background, finds out whether Postgres is back.
 */
export class FailingLoads {
  private failed = false;
  private probing = false;

  get failing(): boolean {
    return this.failed;
  }

  /** Follows `loading`: its outcome says whether loads are failing. */
  track<R>(loading: Promise<R>): Promise<R> {
    return loading.then(
      (value) => {
        this.failed = false;
        return value;
      },
      (error: unknown) => {
        if (error instanceof DatabaseUnavailableError) this.failed = true;
        throw error;
      },
    );
  }

  /** Tries `load` in the background unless a try is already under way; its answer is dropped. */
  probe<R>(load: () => Promise<R>): void {
    if (this.probing) return;
    this.probing = true;
    this.track(load())
      .catch(() => undefined)
      .finally(() => (this.probing = false));
  }
}
