/**
 * Builds every Redis key an app uses, so no other code concatenates keys. All keys start with the app's
 * prefix (isolation between apps and between tests). The per-record part is a hash tag (`{user:42}`), so an
 * entry and its lease and tombstone stay in one slot and one Lua script may touch them on a Redis Cluster.
 */
export class CacheKeys {
  constructor(
    readonly prefix: string,
    private readonly entity: string,
  ) {}

  entry(id: number): string {
    return `${this.prefix}{${this.entity}:${id}}`;
  }

  /** Held by the one reader allowed to fill a missing entry; deleted by every write. */
  lease(id: number): string {
    return `${this.entry(id)}:lease`;
  }

  /** Marks a deleted record, so a late write-through or refresh cannot bring it back. */
  tombstone(id: number): string {
    return `${this.entry(id)}:deleted`;
  }

  /** A key of this app's that is not about one record, such as a lock or a queue. */
  named(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** SCAN pattern matching every key of this app and nothing else. */
  everything(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }
}
