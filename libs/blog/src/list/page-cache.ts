import { type Dependency, GenerationCache } from '@app/cache-core';
import { DatabaseUnavailableError, type ReadSource } from '@app/common';
import { Injectable } from '@nestjs/common';
import { toPostDto } from '../post/post.dto';
import { PostStore } from '../post/post.store';
import { ListChunks } from './list-chunks';
import { ListReads } from './list-reads';

/**
 * One page of the keyset-paginated list; `next` is the cursor of the next page, null on the last. `STALE`: Postgres
 * failed and the page's grace copy (past its TTL, its chunks unchanged since) answered.
 */
export interface ListPage {
  outcome: 'HIT' | 'MISS' | 'BYPASS' | 'STALE';
  /** A stale page's age in seconds. */
  ageSeconds?: number;
  body: string;
  next: number | null;
}

/**
 * Pages of the list (`limit` posts after id `after`), cached with the generation tokens of the chunks they span:
 * a page is served from Redis only while no write touched those chunks (checked on each read), so one write
 * invalidates every page overlapping its chunk without knowing which pages exist. A page stays
 * `CACHE_GRACE_SECONDS` past its TTL as a grace copy, answered only when Postgres fails and its chunks are
 * unchanged.
 */
@Injectable()
export class PageCache {
  private readonly counters: Record<ListPage['outcome'], number> = { HIT: 0, MISS: 0, BYPASS: 0, STALE: 0 };

  constructor(
    private readonly chunks: ListChunks,
    private readonly cache: GenerationCache,
    private readonly store: PostStore,
    private readonly reads: ListReads,
  ) {}

  async page(after: number, limit: number): Promise<ListPage> {
    const key = this.chunks.keys.page(after, limit);
    if (!(await this.chunks.usable())) return this.counted(await this.build(after, limit), 'BYPASS');
    const cached = await this.cache.attempt(
      () => this.cachedPage(key),
      () => 'failed' as const,
    );
    if (cached === 'failed') return this.counted(await this.build(after, limit), 'BYPASS');
    if (cached?.fresh === true) return this.counted(cached, 'HIT');
    const { failing } = this.chunks;
    if (cached !== null && failing.failing) {
      failing.probe(() => this.buildAndFill(key, after, limit));
      return this.counted(cached, 'STALE');
    }
    try {
      return this.counted(await failing.track(this.buildAndFill(key, after, limit)), 'MISS');
    } catch (error) {
      if (cached === null || !(error instanceof DatabaseUnavailableError)) throw error;
      // Read again: a write may have replaced the page while Postgres was failing.
      const copy = await this.cache.attempt(
        () => this.cachedPage(key),
        () => null,
      );
      if (copy === null) throw error;
      return this.counted(copy, 'STALE');
    }
  }

  /** Builds a page from Postgres and stores it under the generations of the chunks it spans, read first. */
  private async buildAndFill(key: string, after: number, limit: number): Promise<Omit<ListPage, 'outcome'>> {
    // Tokens first: any chunk this page can span with dense ids, and the list's end.
    const first = this.chunks.chunkOf(after + 1);
    const reach = Math.ceil(limit / this.chunks.chunkSize) + 1;
    const candidates = Array.from({ length: reach + 1 }, (_, offset) =>
      this.chunks.keys.chunkGeneration(first + offset),
    );
    const tokens = await this.cache.tokens([...candidates, this.chunks.keys.endGeneration]);
    // A replica only for what fills Redis under the tokens just read (see `ListReads`).
    const page = await this.build(after, limit, tokens === null ? undefined : await this.reads.source());
    if (tokens !== null) {
      const spanned = page.lastId === null ? 0 : this.chunks.chunkOf(page.lastId) - first + 1;
      // Sparse ids (many deletes) can make a page reach past the tokens read: such a page is served, not cached.
      if (spanned <= candidates.length) {
        const deps: Dependency[] = candidates.slice(0, spanned).map((dependency, i) => [dependency, tokens[i]!]);
        // The last page also grows with every insert.
        if (page.next === null) deps.push([this.chunks.keys.endGeneration, tokens[tokens.length - 1]!]);
        const value = `${JSON.stringify({ deps, next: page.next })}\n${page.body}`;
        await this.cache.fillIfCurrent(key, value, this.chunks.storedTtlMs, deps);
      }
    }
    return page;
  }

  snapshot(): { pages: Record<ListPage['outcome'], number> } {
    return { pages: { ...this.counters } };
  }

  /**
   * The page cached at `key` if every generation it was built under is still current, and whether it is fresh
   * (not in its grace); null otherwise.
   */
  private async cachedPage(key: string): Promise<(Omit<ListPage, 'outcome'> & { fresh: boolean }) | null> {
    const { value, ttlMs } = await this.cache.withTtl(key);
    if (value === null) return null;
    const cached = value.toString();
    const newline = cached.indexOf('\n');
    const header = JSON.parse(cached.slice(0, newline)) as { deps: Dependency[]; next: number | null };
    const current = await this.cache.mget(header.deps.map(([dependency]) => dependency));
    if (!header.deps.every(([, token], index) => current[index] === token)) return null;
    return {
      body: cached.slice(newline + 1),
      next: header.next,
      fresh: this.chunks.fresh(ttlMs),
      ageSeconds: this.chunks.ageSeconds(ttlMs),
    };
  }

  private async build(
    after: number,
    limit: number,
    source?: ReadSource,
  ): Promise<Omit<ListPage, 'outcome'> & { lastId: number | null }> {
    const posts = await this.store.page(after, limit, source);
    const lastId = posts.at(-1)?.id ?? null;
    return { body: JSON.stringify(posts.map(toPostDto)), next: posts.length === limit ? lastId : null, lastId };
  }

  private counted(page: Omit<ListPage, 'outcome'>, outcome: ListPage['outcome']): ListPage {
    this.counters[outcome] += 1;
    return {
      body: page.body,
      next: page.next,
      outcome,
      ...(outcome === 'STALE' ? { ageSeconds: page.ageSeconds ?? 0 } : {}),
    };
  }
}
