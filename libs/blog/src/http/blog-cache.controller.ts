import { RecordCache } from '@app/cache-core';
import { AdminTokenGuard } from '@app/common';
import { Controller, HttpCode, Post, Query, UseGuards, ValidationPipe } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ClearCacheQuery } from '../post/post.dto';
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

  /**
   * Deletes the blog's keys only (SCAN by prefix, never KEYS), so the next reads are misses; with
   * `?segments=true`, also the list segments kept in Postgres (the next full list is then built from the rows).
   */
  @Post('clear')
  @HttpCode(204)
  @ApiNoContentResponse()
  async clear(
    @Query(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true })) query: ClearCacheQuery,
  ): Promise<void> {
    await this.cache.clear();
    await this.posts.listCleared(query.segments === 'true');
  }

  /** Fills every list chunk not in Redis yet (kept in Postgres, or built); answers once they are all there. */
  @Post('warm')
  @HttpCode(200)
  @ApiOkResponse({ description: '{ chunks, built, kept, ms }' })
  warm(): Promise<{ chunks: number; built: number; kept: number; ms: number }> {
    return this.posts.warmList();
  }
}
