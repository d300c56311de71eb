import { CacheStrategy, RefreshAheadStrategy } from '@app/cache-core';
import { CacheUnavailableError } from '@app/common';
import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

@ApiTags('refresh-ahead')
@Controller('hot-items')
export class HotItemsController {
  constructor(private readonly strategy: CacheStrategy) {}

  /** The ids refresh-ahead keeps warm, hottest first, with their decayed access counts. */
  @Get()
  async get(): Promise<{ hotItems: number[]; accessCounts: Record<string, number> }> {
    if (!(this.strategy instanceof RefreshAheadStrategy)) throw new Error('hot items need the refresh-ahead strategy');
    try {
      return await this.strategy.hot();
    } catch {
      throw new CacheUnavailableError('Cache unavailable: the hot set lives in Redis, try again later');
    }
  }
}
