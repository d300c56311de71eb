import { AppConfig } from '@app/common';
import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { PostListCache } from './list/post-list.cache';
import { PostSeeder } from './seed/post-seeder';

/** At start, before the app listens: seed an empty table, then warm the list cache in the background. */
@Injectable()
export class BlogStartup implements OnApplicationBootstrap {
  constructor(
    private readonly config: AppConfig,
    private readonly seeder: PostSeeder,
    private readonly list: PostListCache,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const progress = ['log', 'debug', 'verbose'].includes(this.config.LOG_LEVEL);
    await this.seeder.seedIfEmpty(this.config.BLOG_SEED_POSTS, { progress });
    if (this.config.BLOG_WARM_ON_START) this.list.warmInBackground();
  }
}
