import { CacheOutcome, CacheStats, CacheStrategy } from '@app/cache-core';
import { NotFoundError, type WriteOptions } from '@app/common';
import { BadRequestException, Injectable } from '@nestjs/common';
import { PostListCache } from './list/post-list.cache';
import { type NewPost, POST_FIELDS, type PostChanges, type PostRecord } from './post/post.record';

/**
 * Posts through the cache-aside strategy (single posts) and the list cache (full list, pages). Every write
 * reaches Postgres first, then invalidates the post's entry and the one list chunk holding it.
 */
@Injectable()
export class PostsService {
  constructor(
    private readonly strategy: CacheStrategy<PostRecord, NewPost, PostChanges>,
    private readonly stats: CacheStats,
    private readonly list: PostListCache,
  ) {}

  async get(id: number): Promise<{ post: PostRecord; outcome: CacheOutcome }> {
    const read = await this.stats.timeRead(() => this.strategy.get(id));
    if (read.value === null) throw new NotFoundError(`Post ${id} not found`);
    return { post: read.value, outcome: read.outcome };
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
      throw new BadRequestException(`Send at least one of ${POST_FIELDS.join(', ')}`);
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
