import { BlogModule, POST_TABLES } from '@app/blog';
import { CacheAsideModule } from '@app/cache-core';
import type { AppDefinition } from '@app/shell';
import { AppShellModule } from '@app/shell';
import { Module } from '@nestjs/common';

/** Single posts through cache-aside; the blog answers `/stats` and `/cache/*` itself (it adds the list). */
@Module({
  imports: [
    AppShellModule.forRoot({ tables: POST_TABLES, stats: false, cacheClear: false }),
    BlogModule,
    CacheAsideModule,
  ],
})
export class AppModule {}

export const BLOG: AppDefinition = {
  name: 'blog',
  defaultPort: 8000,
  module: AppModule,
  description: 'The 500k-post demo: cache-aside posts, and the full list streamed from gzip chunks in Redis.',
};
