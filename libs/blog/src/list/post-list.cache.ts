import { CacheKeys, RecordCache, SingleFlight } from '@app/cache-core';
import { AppConfig } from '@app/common';
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { toPostDto } from '../post/post.dto';
import { PostStore } from '../post/post.store';
import { compressSegment, GzipAssembler, inflateSegment, isEmptySegment } from './gzip-segments';

/** Where a list read was answered from. `PARTIAL`: some chunks were in Redis, the rest were built from Postgres. */
export type ListOutcome = 'HIT' | 'MISS' | 'PARTIAL' | 'BYPASS';

/** The full list, ready to stream: `body` yields it gzip-compressed or as plain JSON, a chunk at a time. */
export interface FullList {
  outcome: ListOutcome;
  chunks: number;
  cachedChunks: number;
  body(gzipped: boolean): AsyncGenerator<Buffer>;
}

/** One page of the keyset-paginated list; `next` is the cursor of the next page, null on the last. */
export interface ListPage {
  outcome: Exclude<ListOutcome, 'PARTIAL'>;
  body: string;
  next: number | null;
}

/** Cached chunks read ahead of the one being sent. */
const READ_AHEAD = 16;

/** The JSON around the chunks, compressed once (see `gzip-segments.ts` for how the pieces join). */
const PUNCTUATION = Promise.all(['[', ',', ']'].map((text) => compressSegment(text)));

/**
 * Why generations: a chunk or page built from a snapshot older than a write must never be stored after that
 * write invalidated it. Each chunk of ids (and the list's end, for inserts) has a generation token that every
 * write replaces. A builder reads the tokens *before* it queries Postgres and stores its result only if they
 * are unchanged, in one script; pages keep the tokens they were built under and are checked on each read, so
 * one write invalidates every cached page overlapping its chunk in O(1), without knowing which pages exist.
 */
const READ_GENERATIONS = `
local tokens = {}
for i, key in ipairs(KEYS) do
  local token = redis.call('GET', key)
  if not token then
    token = ARGV[1] .. ':' .. i
    redis.call('SET', key, token)
  end
  tokens[i] = token
end
return tokens`;

/** KEYS: target, generation keys; ARGV: value, ttl ms, the tokens read before the build. */
const FILL_IF_CURRENT = `
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i + 1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** KEYS: pairs of (generation, data); ARGV: the new token. Every pair's data goes and its generation moves on. */
const INVALIDATE = `
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[1])
  redis.call('DEL', KEYS[i + 1])
end
return 1`;

interface ListCommands {
  readGenerations(...keysThenToken: (string | number)[]): Promise<string[]>;
  fillIfCurrent(...keysThenArgs: (string | number | Buffer)[]): Promise<number>;
  invalidateList(...keysThenToken: (string | number)[]): Promise<number>;
}

interface ListCounters {
  fullLists: Record<ListOutcome, number>;
  pages: Record<ListPage['outcome'], number>;
  chunksFromCache: number;
  chunksBuilt: number;
  chunkInvalidations: number;
  activeStreams: number;
}

/**
 * The post list in Redis, cache-aside style, in two shapes that share one invalidation scheme:
 * the full list as gzip chunks of `BLOG_CHUNK_SIZE` ids each (streamed, never held whole), and keyset pages.
 * A write invalidates only the chunk of its id (and the list's end when it inserts). Consistency: once a write
 * is acknowledged every list read includes it; an invalidation Redis missed is replayed before the next read
 * served from Redis, and until then lists come from Postgres.
 */
@Injectable()
export class PostListCache implements BeforeApplicationShutdown {
  private readonly logger = new Logger(PostListCache.name);
  private readonly redis: RecordCache['redis'] & ListCommands;
  private readonly chunkSize: number;
  private readonly ttlMs: number;
  private readonly concurrency: number;
  private readonly builds = new SingleFlight<Buffer>();
  /** Chunks (and `-1` for the list's end) whose invalidation Redis has not confirmed yet. */
  private readonly owed = new Set<number>();
  private closing = false;
  private warming?: Promise<unknown>;
  private warmingNow = false;
  /** Builds running, and those waiting for one of the `concurrency` slots (Postgres builds the JSON). */
  private building = 0;
  private readonly buildQueue: (() => void)[] = [];
  private readonly counters: ListCounters = {
    fullLists: { HIT: 0, MISS: 0, PARTIAL: 0, BYPASS: 0 },
    pages: { HIT: 0, MISS: 0, BYPASS: 0 },
    chunksFromCache: 0,
    chunksBuilt: 0,
    chunkInvalidations: 0,
    activeStreams: 0,
  };

  constructor(
    private readonly cache: RecordCache,
    private readonly keys: CacheKeys,
    private readonly store: PostStore,
    config: AppConfig,
  ) {
    this.chunkSize = config.BLOG_CHUNK_SIZE;
    this.ttlMs = config.BLOG_LIST_TTL_SECONDS * 1000;
    this.concurrency = config.BLOG_BUILD_CONCURRENCY;
    this.redis = cache.redis as RecordCache['redis'] & ListCommands;
    this.redis.defineCommand('readGenerations', { lua: READ_GENERATIONS });
    this.redis.defineCommand('fillIfCurrent', { lua: FILL_IF_CURRENT });
    this.redis.defineCommand('invalidateList', { lua: INVALIDATE });
  }

  /** The chunk holding `id`: chunk c covers ids c·size+1 … (c+1)·size. */
  chunkOf(id: number): number {
    return Math.floor((id - 1) / this.chunkSize);
  }

  chunkKey(chunk: number): string {
    return this.listKey(String(chunk));
  }

  /** Opens the full list. Throws (before anything is sent) when Postgres is needed and away. */
  /** What a full read would answer with (for `HEAD`), without building or reading any chunk. */
  async describe(): Promise<Omit<FullList, 'body'>> {
    const { outcome, chunks, missing } = await this.survey();
    return { outcome, chunks, cachedChunks: chunks - missing.length };
  }

  private async survey(): Promise<{ useCache: boolean; outcome: ListOutcome; chunks: number; missing: number[] }> {
    const useCache = await this.cacheUsable();
    const maxId = useCache ? await this.cachedMaxId() : await this.store.maxId();
    const chunks = Math.ceil(maxId / this.chunkSize);
    const missing = useCache ? await this.missingChunks(chunks) : Array.from({ length: chunks }, (_, chunk) => chunk);
    const cachedChunks = chunks - missing.length;
    const outcome: ListOutcome = !useCache
      ? 'BYPASS'
      : cachedChunks === chunks
        ? 'HIT'
        : cachedChunks === 0
          ? 'MISS'
          : 'PARTIAL';
    return { useCache, outcome, chunks, missing };
  }

  async full(): Promise<FullList> {
    const { useCache, outcome, chunks, missing } = await this.survey();
    const cachedChunks = chunks - missing.length;
    this.counters.fullLists[outcome] += 1;
    // Start every missing chunk now (at most `concurrency` build at once): after a write, the one chunk it
    // touched is rebuilt while the cached ones stream, not after them. Built chunks are small (compressed).
    const early = new Map<number, Promise<Buffer>>();
    for (const chunk of missing) {
      const build = useCache ? this.builds.run(String(chunk), () => this.build(chunk, true)) : this.build(chunk, false);
      // A client that leaves early leaves builds behind; they still fill Redis, and must not fail unhandled.
      build.catch(() => undefined);
      early.set(chunk, build);
    }
    // Read the first chunk now, so a Postgres outage is a 503 rather than a response cut after its headers.
    if (chunks > 0) early.set(0, early.get(0) ?? this.chunk(0, useCache));
    await early.get(0);
    return { outcome, chunks, cachedChunks, body: (gzipped) => this.stream(chunks, useCache, gzipped, early) };
  }

  /** One page: `limit` posts after id `after`, from Redis when no write touched its chunks since it was cached. */
  async page(after: number, limit: number): Promise<ListPage> {
    const key = this.listKey(`page:${after}:${limit}`);
    if (!(await this.cacheUsable())) return this.countPage(await this.buildPage(after, limit), 'BYPASS');
    try {
      const cached = await this.redis.get(key);
      if (cached !== null) {
        const newline = cached.indexOf('\n');
        const header = JSON.parse(cached.slice(0, newline)) as { deps: [string, string][]; next: number | null };
        const current = await this.redis.mget(...header.deps.map(([dependency]) => dependency));
        if (header.deps.every(([, token], index) => current[index] === token)) {
          return this.countPage({ body: cached.slice(newline + 1), next: header.next }, 'HIT');
        }
      }
    } catch (error) {
      this.cache.failed(error);
      return this.countPage(await this.buildPage(after, limit), 'BYPASS');
    }
    // Tokens first: any chunk this page can span with dense ids, and the list's end.
    const first = this.chunkOf(after + 1);
    const reach = Math.ceil(limit / this.chunkSize) + 1;
    const candidates = Array.from({ length: reach + 1 }, (_, offset) => this.generationKey(first + offset));
    const tokens = await this.readGenerations([...candidates, this.endGenerationKey()]);
    const page = await this.buildPage(after, limit);
    if (tokens !== null) {
      const spanned = page.lastId === null ? 0 : this.chunkOf(page.lastId) - first + 1;
      // Sparse ids (many deletes) can make a page reach past the tokens read: such a page is served, not cached.
      if (spanned <= candidates.length) {
        const deps: [string, string][] = candidates.slice(0, spanned).map((dependency, i) => [dependency, tokens[i]!]);
        // The last page also grows with every insert.
        if (page.next === null) deps.push([this.endGenerationKey(), tokens[tokens.length - 1]!]);
        const value = `${JSON.stringify({ deps, next: page.next })}\n${page.body}`;
        await this.fill(key, value, deps);
      }
    }
    return this.countPage(page, 'MISS');
  }

  /** After a write of post `id` is committed: drop its chunk, and the list's end when the write added a post. */
  async invalidate(id: number, inserted: boolean): Promise<void> {
    const chunks = inserted ? [this.chunkOf(id), -1] : [this.chunkOf(id)];
    for (const chunk of chunks) {
      this.owed.add(chunk);
      this.builds.forget(String(chunk));
    }
    await this.payOwed();
  }

  /** Builds every chunk missing from Redis; returns how many chunks the list has and how many were built. */
  async warm(): Promise<{ chunks: number; built: number; ms: number }> {
    const startedAt = Date.now();
    if (!(await this.cacheUsable())) throw new Error('Redis is unavailable');
    const chunks = Math.ceil((await this.cachedMaxId()) / this.chunkSize);
    const builtBefore = this.counters.chunksBuilt;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks && !this.closing) {
        const chunk = next;
        next += 1;
        if ((await this.redis.exists(this.chunkKey(chunk))) === 0) await this.chunk(chunk, true);
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
    return { chunks, built: this.counters.chunksBuilt - builtBefore, ms: Date.now() - startedAt };
  }

  /** Warms in the background (at start); shutdown waits for the chunk in hand. */
  warmInBackground(): void {
    this.warmingNow = true;
    this.warming = this.warm()
      .finally(() => (this.warmingNow = false))
      .then(({ chunks, built, ms }) =>
        this.logger.log(`List cache warm: ${built} of ${chunks} chunks built in ${ms} ms`),
      )
      .catch((error: unknown) => this.logger.warn(`List cache not warmed: ${String(error)}`));
  }

  /** Forgets builds in flight after the cache was emptied, so none of them is joined afterwards. */
  cleared(): void {
    this.builds.forgetAll();
  }

  snapshot(): ListCounters & { chunkSize: number; owedInvalidations: number; warming: boolean } {
    return {
      ...this.counters,
      warming: this.warmingNow,
      fullLists: { ...this.counters.fullLists },
      pages: { ...this.counters.pages },
      chunkSize: this.chunkSize,
      owedInvalidations: this.owed.size,
    };
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    await this.warming;
  }

  private async *stream(
    chunks: number,
    useCache: boolean,
    gzipped: boolean,
    early: Map<number, Promise<Buffer>>,
  ): AsyncGenerator<Buffer> {
    this.counters.activeStreams += 1;
    try {
      const [open, comma, close] = (await PUNCTUATION) as [Buffer, Buffer, Buffer];
      const gzip = new GzipAssembler();
      const emit = (segment: Buffer): Promise<Buffer> | Buffer =>
        gzipped ? gzip.segment(segment) : inflateSegment(segment);
      if (gzipped) yield gzip.header();
      yield await emit(open);
      // Cached chunks are read a few ahead, so Redis round trips overlap with sending.
      const ahead: Promise<Buffer>[] = [];
      let requested = 0;
      let written = 0;
      for (let chunk = 0; chunk < chunks; chunk += 1) {
        while (requested < chunks && ahead.length < READ_AHEAD) {
          const read = early.get(requested) ?? this.chunk(requested, useCache);
          read.catch(() => undefined);
          ahead.push(read);
          requested += 1;
        }
        const segment = await ahead.shift()!;
        if (isEmptySegment(segment)) continue;
        if (written > 0) yield await emit(comma);
        yield await emit(segment);
        written += 1;
      }
      yield await emit(close);
      if (gzipped) yield gzip.trailer();
    } finally {
      this.counters.activeStreams -= 1;
    }
  }

  /** One chunk as a stored segment (empty when it holds no posts): from Redis, else built once however many ask. */
  private async chunk(chunk: number, useCache: boolean): Promise<Buffer> {
    if (useCache) {
      try {
        const cached = await this.redis.getBuffer(this.chunkKey(chunk));
        if (cached !== null) {
          this.counters.chunksFromCache += 1;
          return cached;
        }
      } catch (error) {
        this.cache.failed(error);
        useCache = false;
      }
    }
    return useCache ? this.builds.run(String(chunk), () => this.build(chunk, true)) : this.build(chunk, false);
  }

  private async build(chunk: number, store: boolean): Promise<Buffer> {
    if (this.building < this.concurrency) this.building += 1;
    else await new Promise<void>((resolve) => this.buildQueue.push(resolve));
    try {
      return await this.buildNow(chunk, store);
    } finally {
      // Hand the slot to the next build in line, or free it.
      const next = this.buildQueue.shift();
      if (next) next();
      else this.building -= 1;
    }
  }

  private async buildNow(chunk: number, store: boolean): Promise<Buffer> {
    const tokens = store ? await this.readGenerations([this.generationKey(chunk)]) : null;
    const compressed = await compressSegment(
      this.store.rangeJson(chunk * this.chunkSize + 1, (chunk + 1) * this.chunkSize),
    );
    this.counters.chunksBuilt += 1;
    if (tokens !== null) await this.fill(this.chunkKey(chunk), compressed, [[this.generationKey(chunk), tokens[0]!]]);
    return compressed;
  }

  private async buildPage(
    after: number,
    limit: number,
  ): Promise<Omit<ListPage, 'outcome'> & { lastId: number | null }> {
    const posts = await this.store.page(after, limit);
    const lastId = posts.at(-1)?.id ?? null;
    return {
      body: JSON.stringify(posts.map(toPostDto)),
      next: posts.length === limit ? lastId : null,
      lastId,
    };
  }

  private countPage(page: Omit<ListPage, 'outcome'>, outcome: ListPage['outcome']): ListPage {
    this.counters.pages[outcome] += 1;
    return { body: page.body, next: page.next, outcome };
  }

  /** The highest id, from Redis or (under the list-end generation) from Postgres. */
  private async cachedMaxId(): Promise<number> {
    const key = this.listKey('end');
    try {
      const cached = await this.redis.get(key);
      if (cached !== null) return Number(cached);
    } catch (error) {
      this.cache.failed(error);
      return this.store.maxId();
    }
    const tokens = await this.readGenerations([this.endGenerationKey()]);
    const maxId = await this.store.maxId();
    if (tokens !== null) await this.fill(key, String(maxId), [[this.endGenerationKey(), tokens[0]!]]);
    return maxId;
  }

  /** The chunks not in Redis (one pipelined EXISTS per chunk); all of them when Redis fails. */
  private async missingChunks(chunks: number): Promise<number[]> {
    const all = Array.from({ length: chunks }, (_, chunk) => chunk);
    try {
      const pipeline = this.redis.pipeline();
      for (const chunk of all) pipeline.exists(this.chunkKey(chunk));
      const results = (await pipeline.exec()) ?? [];
      return all.filter((chunk) => {
        const [error, exists] = results[chunk] ?? [new Error('no reply'), 0];
        if (error) throw error;
        return exists === 0;
      });
    } catch (error) {
      this.cache.failed(error);
      return all;
    }
  }

  /**
   * Every list key names the chunk size: chunks and page dependencies cut at another size (an older
   * configuration, another instance) are different keys, never mistaken for these.
   */
  private listKey(name: string): string {
    return this.keys.named(`{list:${this.chunkSize}:${name}}`);
  }

  private generationKey(chunk: number): string {
    return `${this.chunkKey(chunk)}:gen`;
  }

  private endGenerationKey(): string {
    return `${this.listKey('end')}:gen`;
  }

  /** The current tokens of `keys` (creating missing ones), or null when Redis is away (then nothing is stored). */
  private async readGenerations(keys: string[]): Promise<string[] | null> {
    try {
      return await this.redis.readGenerations(keys.length, ...keys, randomBytes(8).toString('hex'));
    } catch (error) {
      this.cache.failed(error);
      return null;
    }
  }

  private async fill(key: string, value: string | Buffer, deps: [string, string][]): Promise<void> {
    try {
      await this.redis.fillIfCurrent(
        deps.length + 1,
        key,
        ...deps.map(([dependency]) => dependency),
        value,
        this.ttlMs,
        ...deps.map(([, token]) => token),
      );
    } catch (error) {
      this.cache.failed(error);
    }
  }

  /** Lists may come from Redis: it is up and owes no invalidation (owed ones are replayed first). */
  private async cacheUsable(): Promise<boolean> {
    if (!this.cache.available) return false;
    if (this.owed.size > 0) await this.payOwed();
    return this.owed.size === 0;
  }

  private async payOwed(): Promise<void> {
    if (this.owed.size === 0 || !this.cache.available) return;
    const chunks = [...this.owed];
    const keys = chunks.flatMap((chunk) =>
      chunk === -1 ? [this.endGenerationKey(), this.listKey('end')] : [this.generationKey(chunk), this.chunkKey(chunk)],
    );
    try {
      await this.redis.invalidateList(keys.length, ...keys, randomBytes(8).toString('hex'));
      for (const chunk of chunks) this.owed.delete(chunk);
      this.counters.chunkInvalidations += chunks.filter((chunk) => chunk !== -1).length;
    } catch (error) {
      this.cache.failed(error);
    }
  }
}
