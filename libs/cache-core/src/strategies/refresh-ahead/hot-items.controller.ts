import { CacheUnavailableError } from '@app/common';
import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { CacheableRecord } from '../../cache-strategy';
import { RefreshAheadStrategy } from './refresh-ahead.strategy';

@ApiTags('refresh-ahead')
@Controller('hot-items')
export class HotItemsController {
  constructor(private readonly strategy: RefreshAheadStrategy<CacheableRecord, unknown, unknown>) {}

  /** The ids refresh-ahead keeps warm, hottest first, with their decayed access counts. */
  @Get()
  async get(): Promise<{ hotItems: number[]; accessCounts: Record<string, number> }> {
    try {
      return await this.strategy.hot();
    } catch {
      throw new CacheUnavailableError('Cache unavailable: the hot set lives in Redis, try again later');
    }
  }
}
