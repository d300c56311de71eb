import { CacheStats, CacheStrategy, InvalidationOutbox, NearCache, ReplicaLoads } from '@app/cache-core';
import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { PostsService } from '../posts.service';

@ApiTags('stats')
@Controller('stats')
export class BlogStatsController {
  constructor(
    private readonly strategy: CacheStrategy,
    private readonly stats: CacheStats,
    private readonly posts: PostsService,
    private readonly outbox: InvalidationOutbox,
    private readonly near: NearCache,
    private readonly replicaLoads: ReplicaLoads,
  ) {}

  /**
   * Single-post counters and latencies (as in the pattern apps), the list cache's counters, and this process'
   * memory: `maxRssBytes` is the peak resident set since start, which shows whether streaming stayed bounded.
   */
  @Get()
  get(): Record<string, unknown> {
    const memory = process.memoryUsage();
    return {
      app: 'blog',
      pattern: this.strategy.pattern,
      ...this.stats.snapshot(),
      list: this.posts.listStats(),
      outbox: this.outbox.snapshot(),
      near: this.near.snapshot(),
      replicas: this.replicaLoads.snapshot(),
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
      },
    };
  }
}
