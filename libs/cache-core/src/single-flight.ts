/**
 * Collapses concurrent calls for the same key into one: while a call for a key is in flight, later callers
 * share its promise. `forget` detaches a key so that calls made after a write start afresh instead of
 * joining a load that may have read the old row.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const current = this.inFlight.get(key);
    if (current !== undefined) return current;
    const started = work().finally(() => {
      if (this.inFlight.get(key) === started) this.inFlight.delete(key);
    });
    this.inFlight.set(key, started);
    return started;
  }

  /** Like {@link run}, and says whether this caller joined a call already in flight. */
  async join(key: string, work: () => Promise<T>): Promise<{ value: T; joined: boolean }> {
    const joined = this.inFlight.has(key);
    return { value: await this.run(key, work), joined };
  }

  forget(key: string): void {
    this.inFlight.delete(key);
  }

  /** Detaches every key, e.g. after the whole cache was emptied. */
  forgetAll(): void {
    this.inFlight.clear();
  }

  get size(): number {
    return this.inFlight.size;
  }
}
