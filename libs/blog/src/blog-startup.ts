import { BlogConfig, HttpConfig } from '@app/common';
import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ListWarmer } from './list/list-warmer';
import { PostSeeder } from './seed/post-seeder';

/** At start, before the app listens: seed an empty table, then warm the list cache in the background. */
@Injectable()
export class BlogStartup implements OnApplicationBootstrap {
  constructor(
    private readonly config: BlogConfig,
    private readonly http: HttpConfig,
    private readonly seeder: PostSeeder,
    private readonly warmer: ListWarmer,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const progress = ['log', 'debug', 'verbose'].includes(this.http.logLevel);
    await this.seeder.seedIfEmpty(this.config.seedPosts, { progress });
    if (this.config.warmOnStart) this.warmer.warmInBackground();
  }
}
