import { CacheStats, CacheStrategy } from '@app/cache-core';
import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

@ApiTags('stats')
@Controller('stats')
export class StatsController {
  constructor(
    private readonly strategy: CacheStrategy,
    private readonly stats: CacheStats,
  ) {}

  /** Counters of this process since it started, and latency percentiles over the last 10,000 reads and writes. */
  @Get()
  async get(): Promise<Record<string, unknown>> {
    return { pattern: this.strategy.pattern, ...this.stats.snapshot(), ...(await this.strategy.statsExtras()) };
  }
}
