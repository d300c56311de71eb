/**
 * Every Redis key the apps use, built here and nowhere else. All keys start with the app's prefix (isolation
 * between apps and between tests), so `everything()` finds exactly one app's keys.
 *
 * Hash slots (what a Redis Cluster may keep together; a script may only touch keys of one slot there):
 * - one record: `entry`, `lease` and `tombstone` share the hash tag `{<entity>:<id>}`, so fill-if-leased and
 *   set-if-newer are single-slot.
 * - write-behind's log (`writeBehind.*`) and the refresh-ahead hot set (`hot`, `hotMeta`) have no hash tag:
 *   each key is its own slot. wb-accept and wb-ack also touch record keys, so today they need a single Redis.
 * - the blog's list: each chunk and the list's end is a hash tag (`{list:<size>:<chunk>}`) shared with its
 *   generation; pages are their own slot. read-generations, fill-if-current and invalidate-generations touch
 *   several chunks, so today they need a single Redis.
 * - locks and idempotency records are single keys.
 */
export class CacheKeys {
  /** Write-behind's change log: the keys the accept, claim, ack, fail, release and replay scripts share. */
  readonly writeBehind: {
    /** Sorted set: id -> when it may be flushed (next attempt, or claim timeout). */
    pending: string;
    /** Sorted set: id -> when its oldest unflushed change was accepted. */
    accepted: string;
    /** Hash: id -> failed flushes so far. */
    attempts: string;
    /** Hash: id -> the dead letter (JSON). */
    dead: string;
    /** Hash: id -> when a worker claimed it. */
    claimed: string;
    /** Hash: unique value (email) -> the id holding it, `-` once released. */
    unique: string;
    /** Hash: the log's counters. */
    counters: string;
  };

  constructor(
    readonly prefix: string,
    private readonly entity: string,
  ) {
    this.writeBehind = {
      pending: this.named('wb:pending'),
      accepted: this.named('wb:accepted'),
      attempts: this.named('wb:attempts'),
      dead: this.named('wb:dead'),
      claimed: this.named('wb:claimed'),
      unique: this.named('wb:unique'),
      counters: this.named('wb:stats'),
    };
  }

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

  /** Refresh-ahead's hot set (sorted set: id -> decayed access count). */
  get hot(): string {
    return this.named('hot');
  }

  /** The hot set's decay origin (hash: t0). */
  get hotMeta(): string {
    return this.named('hot:meta');
  }

  /** A lock one instance holds while it does something only one may do at a time (a refresh sweep). */
  lock(name: string): string {
    return this.named(`${name}:lock`);
  }

  /** Where the answer to an idempotent write is kept, by the digest of its scope and key. */
  idempotency(digest: string): string {
    return this.named(`idempotency:${digest}`);
  }

  /** Held while a request with that key runs. */
  idempotencyLock(digest: string): string {
    return `${this.idempotency(digest)}:lock`;
  }

  /** Passed to the accept script as its answer key when a write has none (never written). */
  get noIdempotency(): string {
    return this.named('idempotency:none');
  }

  /** BullMQ's prefix for this app's queues. */
  get queuePrefix(): string {
    return `${this.prefix}bull`;
  }

  /**
   * The blog's list keys. Every one names the chunk size: chunks and page dependencies cut at another size (an
   * older configuration, another instance) are different keys, never mistaken for these.
   */
  list(chunkSize: number): ListKeys {
    const part = (name: string): string => this.named(`{list:${chunkSize}:${name}}`);
    return {
      chunk: (chunk) => part(String(chunk)),
      chunkGeneration: (chunk) => `${part(String(chunk))}:gen`,
      end: part('end'),
      endGeneration: `${part('end')}:gen`,
      page: (after, limit) => part(`page:${after}:${limit}`),
    };
  }

  /** SCAN pattern matching every key of this app and nothing else. */
  everything(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }

  /** A key of this app's that is not about one record. */
  private named(name: string): string {
    return `${this.prefix}${name}`;
  }
}

/** The keys of the blog's cached list for one chunk size. */
export interface ListKeys {
  /** A gzip segment of the posts with ids in the chunk. */
  chunk(chunk: number): string;
  /** The chunk's generation token: replaced by every write of a post in it. */
  chunkGeneration(chunk: number): string;
  /** The highest post id. */
  end: string;
  /** Replaced by every insert. */
  endGeneration: string;
  /** A cached page, with the generations it was built under. */
  page(after: number, limit: number): string;
}
