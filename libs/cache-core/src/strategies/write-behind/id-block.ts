import type { WriteBehindStore } from './write-behind-store';

/**
 * Ids reserved from the Postgres sequence a block at a time, so creating a record costs no round trip to
 * Postgres, never collides with an id Postgres hands out, and keeps working for a while when Postgres is
 * away. The next block is fetched in the background when the current one runs low.
 */
export class IdBlock {
  private readonly ids: number[] = [];
  private refilling?: Promise<void>;

  constructor(
    private readonly store: WriteBehindStore,
    private readonly size = 200,
  ) {}

  async next(): Promise<number> {
    if (this.ids.length <= this.size / 4) {
      const refill = this.refill();
      if (this.ids.length === 0) await refill;
      else refill.catch(() => undefined);
    }
    const id = this.ids.shift();
    if (id === undefined) return this.next();
    return id;
  }

  private refill(): Promise<void> {
    this.refilling ??= this.store
      .reserveIds(this.size)
      .then((ids) => void this.ids.push(...ids))
      .finally(() => (this.refilling = undefined));
    return this.refilling;
  }
}
