import { CacheAsideStrategy, CacheCoreModule } from '@app/cache-core';
import { AdminTokenGuard, type AppConfig, AppConfigModule, DatabaseModule, loadAppConfig, startApp } from '@app/common';
import { HealthController } from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { BlogStartup } from './blog-startup';
import { BlogCacheController } from './http/blog-cache.controller';
import { BlogStatsController } from './http/blog-stats.controller';
import { PostsController } from './http/posts.controller';
import { PostListCache } from './list/post-list.cache';
import { POST_MIGRATIONS } from './migrations';
import { PostEntity } from './post/post.entity';
import { PostStore } from './post/post.store';
import { PostStoreModule } from './post/post-store.module';
import { PostsService } from './posts.service';
import { PostSeeder } from './seed/post-seeder';

export const BLOG_PORT = 8000;

/** The blog's schema and key prefix unless configured otherwise. */
export function blogIsolation(config: AppConfig): { schema: string; keyPrefix: string } {
  return { schema: config.DATABASE_SCHEMA ?? 'blog', keyPrefix: config.REDIS_KEY_PREFIX ?? 'blog:' };
}

/**
 * The blog app: posts in their own schema and key prefix, single posts through the cache-aside strategy,
 * the list through {@link PostListCache}, seeded with the demo dataset on first start.
 */
@Module({})
export class BlogAppModule {
  static forRoot(config: AppConfig): DynamicModule {
    const { schema, keyPrefix } = blogIsolation(config);
    return {
      module: BlogAppModule,
      imports: [
        AppConfigModule.forRoot(config),
        DatabaseModule.forRoot({
          schema,
          applicationName: 'blog',
          entities: [PostEntity],
          migrations: POST_MIGRATIONS,
        }),
        CacheCoreModule.forRoot({
          strategy: CacheAsideStrategy,
          store: PostStore,
          storeModule: PostStoreModule,
          providers: [],
          imports: [],
          redisUrl: config.REDIS_URL,
          keyPrefix,
          commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
          writeTimeoutMs: config.REDIS_WRITE_TIMEOUT_MS,
          breakerFailures: config.REDIS_BREAKER_FAILURES,
          ttlSeconds: config.CACHE_TTL_SECONDS,
          ttlJitter: config.CACHE_TTL_JITTER,
          negativeTtlSeconds: config.NEGATIVE_TTL_SECONDS,
        }),
        PostStoreModule,
        TerminusModule,
      ],
      controllers: [PostsController, BlogStatsController, HealthController, BlogCacheController],
      providers: [PostsService, PostListCache, PostSeeder, BlogStartup, AdminTokenGuard],
    };
  }
}

/** `main.ts` of the blog: validate the environment, seed if needed, listen on 8000. */
export function startBlogApp(): Promise<unknown> {
  return startApp(loadAppConfig, (config) => BlogAppModule.forRoot(config), {
    name: 'blog',
    defaultPort: BLOG_PORT,
    title: 'blog',
    description: 'The 500k-post demo: cache-aside posts, and the full list streamed from gzip chunks in Redis.',
  });
}
