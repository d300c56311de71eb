import { GenerationCache, InvalidationTarget } from '@app/cache-core';
import type { DatabaseTables } from '@app/common';
import { Module } from '@nestjs/common';
import { BlogMetrics } from './blog-metrics';
import { BlogStartup } from './blog-startup';
import { BlogCacheController } from './http/blog-cache.controller';
import { BlogStatsController } from './http/blog-stats.controller';
import { PostsController } from './http/posts.controller';
import { FullListReader } from './list/full-list.reader';
import { ListChunks } from './list/list-chunks';
import { PostInvalidations } from './list/post-invalidations';
import { ListWarmer } from './list/list-warmer';
import { ListReads } from './list/list-reads';
import { PageCache } from './list/page-cache';
import { POST_MIGRATIONS } from './migrations';
import { PostEntity } from './post/post.entity';
import { PostStoreModule } from './post/post-store.module';
import { PostsService } from './posts.service';
import { PostSeeder } from './seed/post-seeder';

/** The posts table, for the app shell's database. */
export const POST_TABLES: DatabaseTables = { entities: [PostEntity], migrations: POST_MIGRATIONS };

/**
 * The blog domain: single posts through the app's `CacheStrategy`, the list through its chunked cache, its own
 * `/stats` and `/cache` admin, and the demo dataset seeded on first start.
 */
@Module({
  imports: [PostStoreModule],
  controllers: [PostsController, BlogStatsController, BlogCacheController],
  providers: [
    GenerationCache,
    PostsService,
    ListChunks,
    ListReads,
    FullListReader,
    PageCache,
    ListWarmer,
    PostSeeder,
    BlogStartup,
    BlogMetrics,
    { provide: InvalidationTarget, useClass: PostInvalidations },
  ],
})
export class BlogModule {}
