import {
  CacheKeys,
  type CommittedChange,
  GenerationCache,
  type ListKeys,
  OwedInvalidations,
  ReadGate,
  SingleFlight,
} from '@app/cache-core';
import { BlogConfig } from '@app/common';
import { Injectable } from '@nestjs/common';
import { PostStore } from '../post/post.store';
import { BuildSlots } from './build-slots';
import { compressSegment } from './gzip-segments';

/** The chunk number that stands for the list's end (its highest id) in owed invalidations. */
const END = -1;

/**
 * The post list cut into chunks of `BLOG_CHUNK_SIZE` ids, each a gzip segment in Redis guarded by a generation
 * token (see `GenerationCache`): read from Redis, else from Postgres once however many ask (at most
 * `BLOG_BUILD_CONCURRENCY` at a time): the segment kept there while its rows are unchanged, or built from them. A write invalidates only the chunk of its id, and the list's end when it
 * inserts. An invalidation Redis missed is replayed before the next read served from Redis; until then lists
 * come from Postgres.
 */
@Injectable()
export class ListChunks {
  readonly chunkSize: number;
  readonly ttlMs: number;
  readonly concurrency: number;
  readonly keys: ListKeys;
  private readonly builds = new SingleFlight<Buffer>();
  private readonly slots: BuildSlots;
  private readonly owed: OwedInvalidations<number>;
  private readonly counters = { chunksFromCache: 0, chunksKept: 0, chunksBuilt: 0, chunkInvalidations: 0 };
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
    private readonly gate: ReadGate,
  ) {
    this.chunkSize = config.chunkSize;
    this.ttlMs = config.listTtlSeconds * 1000;
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

  /** The highest id: from Redis (filled under the list-end generation) or, without the cache, from Postgres. */
  async maxId(useCache: boolean): Promise<number> {
    if (!useCache) return this.store.maxId();
    const known = await this.cache.attempt(
      async () => {
        const cached = await this.cache.get(this.keys.end);
        return cached === null ? null : Number(cached);
      },
      () => this.store.maxId(),
    );
    if (known !== null) return known;
    const tokens = await this.cache.tokens([this.keys.endGeneration]);
    const maxId = await this.store.maxId();
    if (tokens !== null) {
      await this.cache.fillIfCurrent(this.keys.end, String(maxId), this.ttlMs, [[this.keys.endGeneration, tokens[0]!]]);
    }
    return maxId;
  }

  /** The chunks not in Redis (one pipelined round trip); all of them when Redis fails. */
  async missing(chunks: number): Promise<number[]> {
    const all = Array.from({ length: chunks }, (_, chunk) => chunk);
    return this.cache.attempt(
      async () => {
        const absent = await this.cache.absent(all.map((chunk) => this.keys.chunk(chunk)));
        return all.filter((chunk) => absent[chunk]);
      },
      () => all,
    );
  }

  /** One chunk as a stored segment (empty when it holds no posts): from Redis, else built. */
  async chunk(chunk: number, useCache: boolean): Promise<Buffer> {
    if (useCache) {
      const cached = await this.cache.attempt(
        () => this.cache.getBuffer(this.keys.chunk(chunk)),
        () => undefined,
      );
      if (cached === undefined) useCache = false;
      else if (cached !== null) {
        this.counters.chunksFromCache += 1;
        return cached;
      }
    }
    return this.build(chunk, useCache);
  }

  /** True when the chunk is in Redis. Throws when Redis fails. */
  cached(chunk: number): Promise<boolean> {
    return this.cache.exists(this.keys.chunk(chunk));
  }

  /**
   * Builds a chunk from Postgres. Stored in Redis (under the generation read before the query) when `store`;
   * then one build per chunk at a time, joined by everyone who asks meanwhile.
   */
  build(chunk: number, store: boolean): Promise<Buffer> {
    return store
      ? this.builds.run(String(chunk), () => this.slots.run(() => this.buildNow(chunk, true)))
      : this.slots.run(() => this.buildNow(chunk, false));
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

  snapshot(): {
    chunkSize: number;
    chunksFromCache: number;
    chunksKept: number;
    chunksBuilt: number;
    chunkInvalidations: number;
    owedInvalidations: number;
  } {
    return { chunkSize: this.chunkSize, ...this.counters, owedInvalidations: this.owed.size };
  }

  /**
   * A chunk from Postgres: its kept segment while the rows' fingerprint still matches, else built from the rows
   * (and kept). Stored in Redis when `store`, under the generation read before Postgres was.
   */
  private async buildNow(chunk: number, store: boolean): Promise<Buffer> {
    const generation = this.keys.chunkGeneration(chunk);
    const tokens = store ? await this.cache.tokens([generation]) : null;
    const [from, to] = [chunk * this.chunkSize + 1, (chunk + 1) * this.chunkSize];
    let compressed = this.rewritten.delete(chunk)
      ? null
      : await this.store.keptSegment(this.chunkSize, chunk, from, to);
    if (compressed !== null) this.counters.chunksKept += 1;
    else {
      const snapshot: { fingerprint?: string } = {};
      compressed = await compressSegment(this.store.rangeJson(from, to, snapshot));
      this.counters.chunksBuilt += 1;
      await this.store.keepSegment(this.chunkSize, chunk, snapshot.fingerprint!, compressed);
    }
    if (tokens !== null) {
      await this.cache.fillIfCurrent(this.keys.chunk(chunk), compressed, this.ttlMs, [[generation, tokens[0]!]]);
    }
    return compressed;
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
