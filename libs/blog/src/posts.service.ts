import { CacheStats, CacheStrategy, readHeaders } from '@app/cache-core';
import { CacheConfig, InvalidInputError, NotFoundError, type WriteOptions } from '@app/common';
import { Injectable } from '@nestjs/common';
import { type FullList, FullListReader } from './list/full-list.reader';
import { ListChunks } from './list/list-chunks';
import { ListWarmer } from './list/list-warmer';
import { type ListPage, PageCache } from './list/page-cache';
import { type NewPost, POST_FIELDS, type PostChanges, type PostRecord } from './post/post.record';

/**
 * Posts through the cache-aside strategy (single posts) and the list cache (full list, pages): every read and
 * write of posts goes through here. Every write reaches Postgres first, then invalidates the post's entry and
 * the one list chunk holding it.
 */
@Injectable()
export class PostsService {
  constructor(
    private readonly strategy: CacheStrategy<PostRecord, NewPost, PostChanges>,
    private readonly stats: CacheStats,
    private readonly list: ListChunks,
    private readonly fullList: FullListReader,
    private readonly pages: PageCache,
    private readonly warmer: ListWarmer,
    private readonly cacheConfig: CacheConfig,
  ) {}

  /** Every post, ready to stream; throws before anything is sent when Postgres is needed and away. */
  all(): Promise<FullList> {
    return this.fullList.open();
  }

  /** What {@link all} would answer with, without reading or building any chunk (for `HEAD`). */
  describeAll(): Promise<Omit<FullList, 'body'>> {
    return this.fullList.describe();
  }

  /** `limit` posts after id `after`. */
  page(after: number, limit: number): Promise<ListPage> {
    return this.pages.page(after, limit);
  }

  /** Builds every list chunk not in Redis yet. */
  warmList(): Promise<{ chunks: number; built: number; kept: number; ms: number }> {
    return this.warmer.warm();
  }

  /**
   * After `POST /cache/clear`: no list build in flight is joined any more; with `segments`, the segments kept in
   * Postgres are dropped too, so the next full list is built from the rows.
   */
  async listCleared(segments: boolean): Promise<void> {
    this.list.cleared();
    if (segments) await this.list.dropKeptSegments();
  }

  /** The list cache's counters, for `/stats`. */
  listStats() {
    return {
      ...this.fullList.snapshot(),
      ...this.pages.snapshot(),
      ...this.list.snapshot(),
      warming: this.warmer.warming,
    };
  }

  /** The record, and the headers that say how the cache answered (`X-Cache`, `Cache-Status`, `Age`). */
  async get(id: number): Promise<{ post: PostRecord; headers: Record<string, string> }> {
    const read = await this.stats.timeRead(() => this.strategy.get(id));
    if (read.value === null) throw new NotFoundError(`Post ${id} not found`);
    return { post: read.value, headers: readHeaders(this.strategy.pattern, read, this.cacheConfig.ttlSeconds) };
  }

  create(input: NewPost, options?: WriteOptions<PostRecord>): Promise<PostRecord> {
    return this.stats.timeWrite(async () => {
      const post = await this.strategy.create(input, options);
      await this.list.invalidate(post.id, true);
      return post;
    });
  }

  update(id: number, changes: PostChanges, options?: WriteOptions<PostRecord>): Promise<PostRecord> {
    if (POST_FIELDS.every((field) => changes[field] === undefined)) {
      throw new InvalidInputError(`Send at least one of ${POST_FIELDS.join(', ')}`);
    }
    return this.stats.timeWrite(async () => {
      const post = await this.strategy.update(id, changes, options);
      await this.list.invalidate(id, false);
      return post;
    });
  }

  remove(id: number, options?: WriteOptions<PostRecord>): Promise<void> {
    return this.stats.timeWrite(async () => {
      await this.strategy.remove(id, options);
      await this.list.invalidate(id, false);
    });
  }
}
