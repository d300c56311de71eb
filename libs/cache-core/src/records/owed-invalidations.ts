/**
 * Invalidations that could not reach Redis, remembered until they are applied. Whoever keeps a cache in Redis
 * checks {@link owes} before serving from it, so nothing written while Redis was away is read stale afterwards.
 * Past `limit` keys the set is dropped for one "everything" debt (the whole cache is cleared on payment), so
 * memory stays bounded however long the outage.
 */
export class OwedInvalidations<K> {
  private readonly owed = new Set<K>();
  private everything = false;

  constructor(
    /** Applies the invalidations of `keys` (or of the whole cache); throws when Redis fails. */
    private readonly payer: (keys: K[] | 'everything') => Promise<void>,
    private readonly limit = Number.POSITIVE_INFINITY,
  ) {}

  /** How many keys are owed (0 while the debt is "everything"). */
  get size(): number {
    return this.owed.size;
  }

  /** True while anything at all is owed. */
  get any(): boolean {
    return this.everything || this.owed.size > 0;
  }

  /** True while an invalidation of `key` (or of everything) is owed. */
  owes(key: K): boolean {
    return this.everything || this.owed.has(key);
  }

  add(key: K): void {
    if (this.owed.size >= this.limit) {
      this.everything = true;
      this.owed.clear();
    }
    if (!this.everything) this.owed.add(key);
  }

  /** `key` reached Redis after all (a later invalidation of it succeeded). */
  settled(key: K): void {
    this.owed.delete(key);
  }

  /** The cache was emptied: nothing is owed any more. */
  forgive(): void {
    this.owed.clear();
    this.everything = false;
  }

  /** Applies what is owed now; keys added meanwhile stay owed. Throws what the payer throws. */
  async pay(): Promise<void> {
    if (this.everything) {
      await this.payer('everything');
      this.forgive();
      return;
    }
    if (this.owed.size === 0) return;
    const keys = [...this.owed];
    await this.payer(keys);
    for (const key of keys) this.owed.delete(key);
  }
}
