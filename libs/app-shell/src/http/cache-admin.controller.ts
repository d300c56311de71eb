import { RecordCache } from '@app/cache-core';
import { AdminTokenGuard } from '@app/common';
import { Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiTags } from '@nestjs/swagger';

@ApiTags('admin')
@ApiBearerAuth()
@UseGuards(AdminTokenGuard)
@Controller('cache')
export class CacheAdminController {
  constructor(private readonly cache: RecordCache) {}

  /** Deletes this app's keys only (SCAN by prefix, never KEYS), so the next reads are misses. */
  @Post('clear')
  @HttpCode(204)
  @ApiNoContentResponse()
  async clear(): Promise<void> {
    await this.cache.clear();
  }
}
