import {
  CacheKeys,
  type CommittedChange,
  FailingLoads,
  GenerationCache,
  type ListKeys,
  OwedInvalidations,
  ReadGate,
  SingleFlight,
} from '@app/cache-core';
import { BlogConfig, CacheConfig, DatabaseUnavailableError } from '@app/common';
import { Injectable } from '@nestjs/common';
import { PostStore } from '../post/post.store';
import { BuildSlots } from './build-slots';
import { compressSegment } from './gzip-segments';
import { ListReads } from './list-reads';

/** The chunk number that stands for the list's end (its highest id) in owed invalidations. */
const END = -1;

/** A chunk's gzip segment, and whether it is a grace copy answered because Postgres failed (`stale-if-error`). */
export interface ChunkSegment {
  segment: Buffer;
  stale: boolean;
  /** A grace copy's age in seconds: how long since it was stored. */
  ageSeconds?: number;
}

/** A value kept past its TTL, and how long ago it was stored, in seconds. */
export interface GraceCopy {
  value: Buffer;
  ageSeconds: number;
}

/**
 * The post list cut into chunks of `BLOG_CHUNK_SIZE` ids, each a gzip segment in Redis guarded by a generation
 * token (see `GenerationCache`): read from Redis, else from Postgres once however many ask (at most
 * `BLOG_BUILD_CONCURRENCY` at a time): the segment kept there while its rows are unchanged, or built from them. A write invalidates only the chunk of its id, and the list's end when it
 * inserts. An invalidation Redis missed is replayed before the next read served from Redis; until then lists
 * come from Postgres.
 *
 * Like records' entries, chunks and the list's end stay `CACHE_GRACE_SECONDS` past their TTL as grace copies: a
 * read treats one as missing and builds, and answers the copy only when Postgres fails. Every invalidation
 * removes a grace copy as it removes a live chunk, and a chunk this instance owes an invalidation has none.
 */
@Injectable()
export class ListChunks {
  readonly chunkSize: number;
  readonly ttlMs: number;
  /** How long a chunk, a page or the list's end stays in Redis past `ttlMs`, as a grace copy. */
  readonly graceMs: number;
  readonly concurrency: number;
  readonly keys: ListKeys;
  private readonly builds = new SingleFlight<Buffer>();
  /** Set while builds fail as unavailable: reads with a grace copy answer it at once, one build probes. */
  readonly failing = new FailingLoads();
  private readonly slots: BuildSlots;
  private readonly owed: OwedInvalidations<number>;
  private readonly counters = {
    chunksFromCache: 0,
    chunksKept: 0,
    chunksBuilt: 0,
    chunksStale: 0,
    chunkInvalidations: 0,
  };
  /**
   * Chunks a write changed since this instance last built them: their kept segment is of older rows, so a build
   * does not ask Postgres for it (a question that hashes the chunk's rows) before building from the rows.
   */
  private readonly rewritten = new Set<number>();

  constructor(
    readonly cache: GenerationCache,
    keys: CacheKeys,
    private readonly store: PostStore,
    config: BlogConfig,
    cacheConfig: CacheConfig,
    private readonly gate: ReadGate,
    private readonly reads: ListReads,
  ) {
    this.chunkSize = config.chunkSize;
    this.ttlMs = config.listTtlSeconds * 1000;
    this.graceMs = cacheConfig.graceSeconds * 1000;
    this.concurrency = config.buildConcurrency;
    this.keys = keys.list(config.chunkSize);
    this.slots = new BuildSlots(config.buildConcurrency);
    this.owed = new OwedInvalidations((chunks) => this.applyInvalidations(chunks));
  }

  /** The chunk holding `id`: chunk c covers ids c·size+1 … (c+1)·size. */
  chunkOf(id: number): number {
    return Math.floor((id - 1) / this.chunkSize);
  }

  /** How many chunks a list up to `maxId` has. */
  chunksUpTo(maxId: number): number {
    return Math.ceil(maxId / this.chunkSize);
  }

  /**
   * Lists may come from Redis: it is up, owes no invalidation (owed ones are replayed first), and the
   * invalidation outbox is not catching up.
   */
  async usable(): Promise<boolean> {
    if (!this.cache.available || !(await this.gate.opened())) return false;
    if (this.owed.any) await this.payOwed();
    return !this.owed.any;
  }

  /** How long what the list stores in Redis lives there: its TTL, then its grace. */
  get storedTtlMs(): number {
    return this.ttlMs + this.graceMs;
  }

  /** Whether a stored value with `remainingMs` to live is fresh (not yet in its grace); false when absent. */
  fresh(remainingMs: number): boolean {
    return remainingMs === -1 || remainingMs > this.graceMs;
  }

  /**
   * The highest id: from Redis (filled under the list-end generation) or, without the cache, from Postgres.
   * `stale` when Postgres failed and the grace copy answered.
   */
  async maxId(useCache: boolean): Promise<{ maxId: number; stale: boolean }> {
    if (!useCache) return { maxId: await this.store.maxId(), stale: false };
    const known = await this.cache.attempt(
      () => this.cache.withTtl(this.keys.end),
      () => null,
    );
    if (known?.value != null && this.fresh(known.ttlMs)) return { maxId: Number(known.value), stale: false };
    const tokens = await this.cache.tokens([this.keys.endGeneration]);
    let maxId: number;
    try {
      maxId = await this.store.maxId(tokens === null ? undefined : await this.reads.source());
    } catch (error) {
      // The copy read a moment ago is current unless a write moved the end since (then it is gone).
      if (!(error instanceof DatabaseUnavailableError) || known?.value == null || this.owed.owes(END)) throw error;
      const copy = await this.graceCopy(this.keys.end);
      if (copy === null) throw error;
      return { maxId: Number(copy.value), stale: true };
    }
    if (tokens !== null) {
      const end = String(maxId);
      await this.cache.fillIfCurrent(this.keys.end, end, this.storedTtlMs, [[this.keys.endGeneration, tokens[0]!]]);
    }
    return { maxId, stale: false };
  }

  /** The chunks not fresh in Redis (one pipelined round trip); all of them when Redis fails. */
  async missing(chunks: number): Promise<number[]> {
    const all = Array.from({ length: chunks }, (_, chunk) => chunk);
    return this.cache.attempt(
      async () => {
        const remaining = await this.cache.remaining(all.map((chunk) => this.keys.chunk(chunk)));
        return all.filter((chunk) => !this.fresh(remaining[chunk]!));
      },
      () => all,
    );
  }

  /** One chunk as a stored segment (empty when it holds no posts): from Redis if fresh there, else built. */
  async chunk(chunk: number, useCache: boolean): Promise<ChunkSegment> {
    if (useCache) {
      const cached = await this.cache.attempt(
        () => this.cache.withTtl(this.keys.chunk(chunk)),
        () => undefined,
      );
      if (cached === undefined) useCache = false;
      else if (cached.value !== null && this.fresh(cached.ttlMs)) {
        this.counters.chunksFromCache += 1;
        return { segment: cached.value, stale: false };
      }
    }
    return this.build(chunk, useCache);
  }

  /** True when the chunk is fresh in Redis. Throws when Redis fails. */
  async cached(chunk: number): Promise<boolean> {
    const [remaining] = await this.cache.remaining([this.keys.chunk(chunk)]);
    return this.fresh(remaining!);
  }

  /**
   * Builds a chunk from Postgres. Stored in Redis (under the generation read before the query) when `store`;
   * then one build per chunk at a time, joined by everyone who asks meanwhile. When Postgres fails, the chunk's
   * grace copy answers if it has one (at once while builds are failing; one build at a time then probes).
   */
  async build(chunk: number, store: boolean): Promise<ChunkSegment> {
    const building = (): Promise<Buffer> =>
      store
        ? this.builds.run(String(chunk), () => this.slots.run(() => this.buildNow(chunk, true)))
        : this.slots.run(() => this.buildNow(chunk, false));
    if (this.failing.failing) {
      const copy = await this.chunkCopy(chunk);
      if (copy !== null) {
        this.failing.probe(building);
        return { segment: copy.value, stale: true, ageSeconds: copy.ageSeconds };
      }
    }
    try {
      return { segment: await this.failing.track(building()), stale: false };
    } catch (error) {
      const copy = error instanceof DatabaseUnavailableError ? await this.chunkCopy(chunk) : null;
      if (copy === null) throw error;
      return { segment: copy.value, stale: true, ageSeconds: copy.ageSeconds };
    }
  }

  /**
   * The value at `key` as a grace copy, when grace is on and Redis has one (a write removes it); null otherwise.
   */
  async graceCopy(key: string): Promise<GraceCopy | null> {
    if (this.graceMs === 0) return null;
    const stored = await this.cache.attempt(
      () => this.cache.withTtl(key),
      () => null,
    );
    if (stored?.value == null) return null;
    return { value: stored.value, ageSeconds: this.ageSeconds(stored.ttlMs) };
  }

  /** How long ago a value with `remainingMs` left was stored, in whole seconds. */
  ageSeconds(remainingMs: number): number {
    return remainingMs < 0 ? 0 : Math.max(0, Math.floor((this.storedTtlMs - remainingMs) / 1000));
  }

  /** After a write of post `id` is committed: drop its chunk, and the list's end when the write added a post. */
  async invalidate(id: number, inserted: boolean): Promise<void> {
    const chunks = inserted ? [this.chunkOf(id), END] : [this.chunkOf(id)];
    this.rewritten.add(this.chunkOf(id));
    for (const chunk of chunks) {
      this.owed.add(chunk);
      this.builds.forget(String(chunk));
    }
    await this.payOwed();
  }

  /**
   * Applies committed changes from the invalidation outbox: the chunk of each post, and the list's end for an
   * insert. Throws when Redis fails.
   */
  async applyChanges(changes: CommittedChange[]): Promise<void> {
    const chunks = new Set<number>();
    for (const change of changes) {
      chunks.add(this.chunkOf(change.id));
      if (change.operation === 'I') chunks.add(END);
    }
    for (const chunk of chunks) {
      this.builds.forget(String(chunk));
      if (chunk !== END) this.rewritten.add(chunk);
    }
    if (chunks.size > 0) await this.applyInvalidations([...chunks]);
  }

  /** Forgets builds in flight after the cache was emptied, so none of them is joined afterwards. */
  cleared(): void {
    this.builds.forgetAll();
  }

  /** Drops the segments kept in Postgres for this chunk size. */
  dropKeptSegments(): Promise<void> {
    return this.store.dropKeptSegments(this.chunkSize);
  }

  snapshot(): {
    chunkSize: number;
    chunksFromCache: number;
    chunksKept: number;
    chunksBuilt: number;
    chunksStale: number;
    chunkInvalidations: number;
    owedInvalidations: number;
  } & ReturnType<ListReads['snapshot']> {
    return { chunkSize: this.chunkSize, ...this.counters, owedInvalidations: this.owed.size, ...this.reads.snapshot() };
  }

  /**
   * A chunk from Postgres: its kept segment while the rows' fingerprint still matches, else built from the rows
   * (and kept). Stored in Redis when `store`, under the generation read before Postgres was.
   */
  private async buildNow(chunk: number, store: boolean): Promise<Buffer> {
    const generation = this.keys.chunkGeneration(chunk);
    const tokens = store ? await this.cache.tokens([generation]) : null;
    const [from, to] = [chunk * this.chunkSize + 1, (chunk + 1) * this.chunkSize];
    // A replica only for what fills Redis under the tokens just read (see `ListReads`).
    const source = tokens === null ? undefined : await this.reads.source();
    let compressed = this.rewritten.delete(chunk)
      ? null
      : await this.store.keptSegment(this.chunkSize, chunk, from, to, source);
    if (compressed !== null) this.counters.chunksKept += 1;
    else {
      const snapshot: { fingerprint?: string } = {};
      compressed = await compressSegment(this.store.rangeJson(from, to, snapshot, source));
      this.counters.chunksBuilt += 1;
      await this.store.keepSegment(this.chunkSize, chunk, snapshot.fingerprint!, compressed);
    }
    if (tokens !== null) {
      await this.cache.fillIfCurrent(this.keys.chunk(chunk), compressed, this.storedTtlMs, [[generation, tokens[0]!]]);
    }
    return compressed;
  }

  /** A chunk's grace copy, unless this instance owes the chunk an invalidation (its copy may predate a write). */
  private async chunkCopy(chunk: number): Promise<GraceCopy | null> {
    if (this.owed.owes(chunk)) return null;
    const copy = await this.graceCopy(this.keys.chunk(chunk));
    if (copy !== null) this.counters.chunksStale += 1;
    return copy;
  }

  private async payOwed(): Promise<void> {
    if (!this.owed.any || !this.cache.available) return;
    await this.cache.attempt(
      () => this.owed.pay(),
      () => undefined,
    );
  }

  private async applyInvalidations(chunks: number[] | 'everything'): Promise<void> {
    if (chunks === 'everything') throw new Error('the list owes chunks, never everything');
    await this.cache.invalidate(
      chunks.map((chunk): [string, string] =>
        chunk === END
          ? [this.keys.endGeneration, this.keys.end]
          : [this.keys.chunkGeneration(chunk), this.keys.chunk(chunk)],
      ),
    );
    this.counters.chunkInvalidations += chunks.filter((chunk) => chunk !== END).length;
  }
}
