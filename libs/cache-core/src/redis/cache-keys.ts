/**
 * Every Redis key the apps use, built here and nowhere else. All keys start with the app's prefix (isolation
 * between apps and between tests), so `everything()` finds exactly one app's keys.
 *
 * Hash slots. A Lua script, MULTI or multi-key command may only touch keys of one slot on a Redis Cluster, so
 * keys that are changed together share a hash tag (the part in braces). A group's tag is `{<prefix><group>}`,
 * unique to the app, after the prefix: `cache-aside:{cache-aside:list:2000}:7`.
 * - One record (`entry`, `lease`, `tombstone`): tag `{<entity>:<id>}`, one slot per record, spread over the
 *   cluster (fill-if-leased, set-if-newer, MULTI of delete + tombstone).
 * - Write-behind: every key of the app (records, the change log, unique-value claims, idempotency records) is
 *   in one slot, tag `{<prefix>wb}`. Accepting a change checks a unique value (an email) against every other
 *   record atomically, so the records and the claims cannot be split over slots without giving that up. On a
 *   cluster this puts write-behind on one master: the cluster gives it failover, not write scale-out.
 * - Refresh-ahead's hot set: `hotShards` sorted sets, tag `{<prefix>hot:<shard>}` each with its own decay
 *   origin, ids spread by `id mod hotShards`; reads of the hot set merge them.
 * - The blog's list: chunks, generations, the list's end and pages share tag `{<prefix>list:<chunk size>}`
 *   (a page's fill checks several chunks' generations in one script); every full-list read reads every chunk.
 * - BullMQ: its queues' keys share tag `{<prefix>bull}` (its scripts touch several keys of a queue).
 * - Each instance's published counters and their index share tag `{<prefix>stats}` (one MGET reads them all).
 * - Locks and idempotency records of the other patterns are single keys.
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
    /** Pub/sub channel (not a key): each accepted change, `<id>:<version>`, `:D` added for a deletion. */
    changes: string;
  };

  /** The tag every key of the app shares, when the strategy needs them in one slot (write-behind). */
  private readonly oneSlot?: string;

  constructor(
    readonly prefix: string,
    private readonly entity: string,
    options: { oneSlot?: boolean; hotShards?: number } = {},
  ) {
    if (options.oneSlot) this.oneSlot = this.tag('wb');
    this.hotShards = options.hotShards ?? 1;
    this.writeBehind = {
      pending: this.named('wb:pending'),
      accepted: this.named('wb:accepted'),
      attempts: this.named('wb:attempts'),
      dead: this.named('wb:dead'),
      claimed: this.named('wb:claimed'),
      unique: this.named('wb:unique'),
      counters: this.named('wb:stats'),
      changes: this.named('wb:changes'),
    };
  }

  /** How many sorted sets refresh-ahead's hot set is split into. */
  readonly hotShards: number;

  entry(id: number): string {
    return this.oneSlot === undefined
      ? `${this.prefix}{${this.entity}:${id}}`
      : `${this.prefix}${this.oneSlot}${this.entity}:${id}`;
  }

  /** Held by the one reader allowed to fill a missing entry; deleted by every write. */
  lease(id: number): string {
    return `${this.entry(id)}:lease`;
  }

  /** The highest version whose invalidation reached Redis, kept a while: a late outbox apply of it is skipped. */
  invalidated(id: number): string {
    return `${this.entry(id)}:invalidated`;
  }

  /** Marks a deleted record, so a late write-through or refresh cannot bring it back. */
  tombstone(id: number): string {
    return `${this.entry(id)}:deleted`;
  }

  /** The hot-set shard that counts `id`. */
  hotShardOf(id: number): number {
    return id % this.hotShards;
  }

  /** One shard of refresh-ahead's hot set (sorted set: id -> decayed access count). */
  hot(shard: number): string {
    return `${this.prefix}${this.tag(`hot:${shard}`)}`;
  }

  /** That shard's decay origin (hash: t0). */
  hotMeta(shard: number): string {
    return `${this.hot(shard)}:meta`;
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
  /**
   * Write-behind: who held a unique value (an email) until its record was flushed, kept a minute after the hash
   * field is released (see `wb-ack.lua`); `value` '' names a key that is never written.
   */
  flushedClaim(value: string): string {
    return this.named(`wb:flushed-claim:${value}`);
  }

  get noIdempotency(): string {
    return this.named('idempotency:none');
  }

  /** BullMQ's prefix for this app's queues: a hash tag, as BullMQ requires on a cluster. */
  get queuePrefix(): string {
    return `${this.prefix}${this.tag('bull')}`;
  }

  /**
   * The blog's list keys. Every one names the chunk size: chunks and page dependencies cut at another size (an
   * older configuration, another instance) are different keys, never mistaken for these.
   */
  list(chunkSize: number): ListKeys {
    const group = `${this.prefix}${this.tag(`list:${chunkSize}`)}`;
    const part = (name: string): string => `${group}:${name}`;
    return {
      chunk: (chunk) => part(String(chunk)),
      chunkGeneration: (chunk) => `${part(String(chunk))}:gen`,
      end: part('end'),
      endGeneration: `${part('end')}:gen`,
      page: (after, limit) => part(`page:${after}:${limit}`),
    };
  }

  /** Every live instance's published counters: the index (sorted set: instance -> published at) and entries. */
  get statsIndex(): string {
    return `${this.prefix}${this.tag('stats')}:instances`;
  }

  statsOf(instance: string): string {
    return `${this.prefix}${this.tag('stats')}:${instance}`;
  }

  /** SCAN pattern matching every key of this app and nothing else. */
  everything(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }

  /** A key of this app's that is not about one record (in the app's one slot, when it has one). */
  private named(name: string): string {
    return `${this.prefix}${this.oneSlot ?? ''}${name}`;
  }

  /** A hash tag unique to this app. */
  private tag(group: string): string {
    return `{${this.prefix}${group}}`;
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
