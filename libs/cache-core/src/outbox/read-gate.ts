import { Injectable } from '@nestjs/common';

/** How long a read waits for the gate to open before it goes to Postgres instead. */
const READ_WAIT_MS = 1000;

/**
 * Whether this instance may trust what Redis holds for a record that no announced change names.
 *
 * Closed while the outbox starts a catch-up (at start, and when Redis or the feed comes back): until it knows which
 * records changed while it was away, any entry may be older than a committed change. A read that finds it closed
 * waits a little (that takes milliseconds), then loads from Postgres.
 *
 * Deaf while the outbox's feed is down: changes committed meanwhile are not heard of, so an entry is a copy to
 * fall back on when Postgres fails, not an answer. (Always hearing when the outbox is off.)
 */
@Injectable()
export class ReadGate {
  private holds = 0;
  private waiters: (() => void)[] = [];
  private hearing = true;

  get open(): boolean {
    return this.holds === 0;
  }

  /** False while the outbox's feed is down: changes committed meanwhile are not heard of. */
  get listening(): boolean {
    return this.hearing;
  }

  /** The feed is down (or not up yet). */
  deafened(): void {
    this.hearing = false;
  }

  /** The feed is up again; the catch-up that follows holds the gate until it knows what was missed. */
  hears(): void {
    this.hearing = true;
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
