import { Injectable } from '@nestjs/common';

/** How long a read waits for the gate to open before it goes to Postgres instead. */
const READ_WAIT_MS = 1000;

/**
 * Closed while the outbox catches up after Redis comes back (or at start): Redis may still hold entries that
 * changes committed meanwhile have made stale, so nothing is read from it until they are applied. A read that
 * finds it closed waits a little (a catch-up usually takes milliseconds), then goes to Postgres.
 */
@Injectable()
export class ReadGate {
  private holds = 0;
  private waiters: (() => void)[] = [];

  get open(): boolean {
    return this.holds === 0;
  }

  /** True once the gate is open, false if it stayed closed for `maxMs`. */
  async opened(maxMs = READ_WAIT_MS): Promise<boolean> {
    if (this.open) return true;
    let timer: NodeJS.Timeout | undefined;
    let done: () => void = () => undefined;
    const opened = new Promise<boolean>((resolve) => {
      done = () => resolve(true);
      this.waiters.push(done);
      timer = setTimeout(() => resolve(false), maxMs);
    });
    const result = await opened;
    clearTimeout(timer);
    this.waiters = this.waiters.filter((waiter) => waiter !== done);
    return result;
  }

  /** Keeps the gate closed until `work` settles. */
  async closedDuring<R>(work: () => Promise<R>): Promise<R> {
    this.holds += 1;
    try {
      return await work();
    } finally {
      this.holds -= 1;
      if (this.holds === 0) for (const waiter of this.waiters.splice(0)) waiter();
    }
  }
}
