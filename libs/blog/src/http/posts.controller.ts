import {
  CACHE_READ_HEADERS,
  ApiConditionalRead,
  ApiConditionalWrite,
  Conditions,
  etagFor,
  type HeaderWriter,
  Idempotent,
  ifNoneMatchHits,
  ParseIdPipe,
  responseHeader,
  WriteConditions,
} from '@app/common';
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Logger,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
  ValidationPipe,
} from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import Negotiator from 'negotiator';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FullList, ListOutcome } from '../list/full-list.reader';
import { CreatePostDto, ListPostsQuery, PostDto, toPostDto, UpdatePostDto } from '../post/post.dto';
import type { PostRecord } from '../post/post.record';
import { PostsService } from '../posts.service';
import { type AnyResponse, takeRawResponse } from './raw-response';

const JSON_TYPE = 'application/json; charset=utf-8';
const DEFAULT_PAGE_SIZE = 100;

@ApiTags('posts')
@Controller('posts')
export class PostsController {
  private readonly logger = new Logger(PostsController.name);

  constructor(private readonly posts: PostsService) {}

  /**
   * Without parameters: every post, as one JSON array streamed chunk by chunk (gzip when the client accepts
   * it, straight from Redis). With `limit` and/or `after`: one page, and a `Link` header to the next.
   */
  @Get()
  @ApiOkResponse({
    type: [PostDto],
    headers: {
      'X-Cache': responseHeader(
        'HIT, MISS, PARTIAL (some list chunks rebuilt), BYPASS (Redis away) or STALE (Postgres failed: grace copies)',
      ),
      'Cache-Status': responseHeader(
        'RFC 9211: `blog-list; hit`, `blog-list; fwd=miss; stored`, `blog-list; fwd=partial; stored` (some chunks rebuilt), `blog-list; fwd=bypass` or `blog-list; hit; fwd=stale; detail=stale-if-error`',
      ),
      Age: responseHeader('Stale answers only: seconds since the grace copy was stored', false),
      'X-Cache-Chunks': responseHeader('Full list only: chunks found in Redis / chunks in the list', false),
      Link: responseHeader('Pages only: `</posts?limit=N&after=ID>; rel="next"`, absent on the last page', false),
    },
  })
  async list(
    @Query(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }))
    query: ListPostsQuery,
    @Req() request: { method: string; headers: IncomingHttpHeaders },
    @Res() response: AnyResponse,
  ): Promise<void> {
    if (query.limit !== undefined || query.after !== undefined) {
      const limit = query.limit ?? DEFAULT_PAGE_SIZE;
      const page = await this.posts.page(query.after ?? 0, limit);
      const raw = takeRawResponse(response);
      raw.writeHead(200, {
        'Content-Type': JSON_TYPE,
        'X-Cache': page.outcome,
        'Cache-Status': listCacheStatus(page.outcome),
        ...(page.ageSeconds === undefined ? {} : { Age: String(page.ageSeconds) }),
        ...(page.next === null ? {} : { Link: `</posts?limit=${limit}&after=${page.next}>; rel="next"` }),
      });
      raw.end(page.body);
      return;
    }
    const gzipped = new Negotiator(request).encoding(['gzip', 'identity']) === 'gzip';
    const head = request.method === 'HEAD';
    // HEAD gets the headers a GET would, and no chunk is built or read for a body nobody receives.
    const full: Omit<FullList, 'body'> & Partial<Pick<FullList, 'body'>> = head
      ? await this.posts.describeAll()
      : await this.posts.all();
    const raw = takeRawResponse(response);
    raw.writeHead(200, {
      'Content-Type': JSON_TYPE,
      Vary: 'Accept-Encoding',
      'X-Cache': full.outcome,
      'Cache-Status': listCacheStatus(full.outcome),
      ...(full.ageSeconds === undefined ? {} : { Age: String(full.ageSeconds) }),
      'X-Cache-Chunks': `${full.cachedChunks}/${full.chunks}`,
      ...(gzipped ? { 'Content-Encoding': 'gzip' } : {}),
    });
    if (full.body === undefined) {
      raw.end();
      return;
    }
    try {
      await pipeline(Readable.from(full.body(gzipped), { objectMode: false }), raw);
    } catch (error) {
      // A client that hangs up half way is normal; anything else cut the response short, which the client sees.
      if ((error as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        this.logger.warn(`Full list cut short: ${(error as Error).message}`);
      }
    }
  }

  @Get(':id')
  @ApiConditionalRead(PostDto, {
    ...CACHE_READ_HEADERS,
  })
  async get(
    @Param('id', ParseIdPipe) id: number,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<PostDto | undefined> {
    const read = await this.posts.get(id);
    const post = read.post;
    for (const [name, value] of Object.entries(read.headers)) response.header(name, value);
    if (!ifNoneMatchHits(ifNoneMatch, post.version)) return sent(response, post);
    response.header('ETag', etagFor(post.version));
    response.status(304);
    return undefined;
  }

  @Post()
  @Idempotent()
  @ApiConditionalWrite(false, { status: 201, type: PostDto })
  async create(
    @Body() body: CreatePostDto,
    @Conditions() conditions: WriteConditions,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<PostDto> {
    return sent(response, await this.posts.create(body, conditions.options(201, toPostDto)));
  }

  /** A partial update, as in the seed: send any non-empty subset of title, content, author. */
  @Put(':id')
  @Idempotent()
  @ApiConditionalWrite(true, { status: 200, type: PostDto })
  async update(
    @Param('id', ParseIdPipe) id: number,
    @Body() body: UpdatePostDto,
    @Conditions() conditions: WriteConditions,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<PostDto> {
    return sent(response, await this.posts.update(id, body, conditions.options(200, toPostDto)));
  }

  @Delete(':id')
  @Idempotent()
  @HttpCode(204)
  @ApiConditionalWrite(true, { status: 204 })
  async remove(@Param('id', ParseIdPipe) id: number, @Conditions() conditions: WriteConditions): Promise<void> {
    await this.posts.remove(id, conditions.options<PostRecord>(204));
  }
}

/** The post as the body, with its version as the `ETag`. */
function sent(response: HeaderWriter, post: PostRecord): PostDto {
  response.header('ETag', etagFor(post.version));
  return toPostDto(post);
}

/** The RFC 9211 `Cache-Status` of a list answer (the full list or a page), the cache named `blog-list`. */
function listCacheStatus(outcome: ListOutcome): string {
  switch (outcome) {
    case 'STALE':
      return 'blog-list; hit; fwd=stale; detail=stale-if-error';
    case 'HIT':
      return 'blog-list; hit';
    case 'MISS':
      return 'blog-list; fwd=miss; stored';
    case 'PARTIAL':
      return 'blog-list; fwd=partial; stored';
    case 'BYPASS':
      return 'blog-list; fwd=bypass';
  }
}
