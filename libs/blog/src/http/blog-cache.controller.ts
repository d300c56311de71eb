import { RecordCache } from '@app/cache-core';
import { AdminTokenGuard } from '@app/common';
import { Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { PostsService } from '../posts.service';

@ApiTags('admin')
@ApiBearerAuth()
@UseGuards(AdminTokenGuard)
@Controller('cache')
export class BlogCacheController {
  constructor(
    private readonly cache: RecordCache,
    private readonly posts: PostsService,
  ) {}

  /** Deletes the blog's keys only (SCAN by prefix, never KEYS), so the next reads are misses. */
  @Post('clear')
  @HttpCode(204)
  @ApiNoContentResponse()
  async clear(): Promise<void> {
    await this.cache.clear();
    this.posts.listCleared();
  }

  /** Fills every list chunk not in Redis yet (kept in Postgres, or built); answers once they are all there. */
  @Post('warm')
  @HttpCode(200)
  @ApiOkResponse({ description: '{ chunks, built, kept, ms }' })
  warm(): Promise<{ chunks: number; built: number; kept: number; ms: number }> {
    return this.posts.warmList();
  }
}
