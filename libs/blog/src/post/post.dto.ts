import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
  type ValidationOptions,
} from 'class-validator';
import type { PostRecord } from './post.record';

/** The largest `limit` of one page. */
export const MAX_PAGE_SIZE = 1000;

const notBlank = (field: string): ValidationOptions => ({ message: `${field} must not be blank` });

/** Body of `POST /posts`: every field required. */
export class CreatePostDto {
  @ApiProperty({ example: 'Redis Best Practices - Part 1', minLength: 1, maxLength: 255 })
  @IsString()
  @Length(1, 255)
  @Matches(/\S/, notBlank('title'))
  title!: string;

  @ApiProperty({ example: 'This is a detailed article about Redis. ', minLength: 1, maxLength: 50_000 })
  @IsString()
  @Length(1, 50_000)
  @Matches(/\S/, notBlank('content'))
  content!: string;

  @ApiProperty({ example: 'Alice', minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  @Matches(/\S/, notBlank('author'))
  author!: string;
}

/**
 * Body of `PUT /posts/:id`: a partial update, as the seed's API had it (any non-empty subset of fields).
 * Fields may be absent but not null.
 */
export class UpdatePostDto extends PartialType(CreatePostDto) {
  @ValidateIf((_, value) => value !== undefined)
  declare title?: string;

  @ValidateIf((_, value) => value !== undefined)
  declare content?: string;

  @ValidateIf((_, value) => value !== undefined)
  declare author?: string;
}

/** Only plain decimal digits become numbers; anything else ("1e3", "1.5", arrays) stays as sent and fails `IsInt`. */
const toInteger = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;

/** Query of `GET /posts`: none for the full list; `limit` and/or `after` for one page (keyset pagination). */
export class ListPostsQuery {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_PAGE_SIZE,
    description: 'Page size (100 when only after is sent)',
  })
  @IsOptional()
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    description: 'Cursor: the page starts after this id (0 = first page)',
  })
  @IsOptional()
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(2_147_483_647)
  after?: number;
}

/** A post as the API returns it. */
export class PostDto {
  @ApiProperty({ example: 1, type: 'integer', minimum: 1 })
  id!: number;

  @ApiProperty({ example: 'Redis Best Practices - Part 1' })
  title!: string;

  @ApiProperty({ example: 'This is a detailed article about Redis. ' })
  content!: string;

  @ApiProperty({ example: 'Alice' })
  author!: string;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', description: 'ISO 8601, UTC' })
  createdAt!: string;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', description: 'ISO 8601, UTC' })
  updatedAt!: string;
}

/** The API's JSON for a post; the same key order the list chunks use. */
export function toPostDto(record: PostRecord): PostDto {
  return {
    id: record.id,
    title: record.title,
    content: record.content,
    author: record.author,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** Query of `POST /cache/clear`. */
export class ClearCacheQuery {
  @ApiPropertyOptional({
    enum: ['true', 'false'],
    description:
      'true: also drop the list segments kept in Postgres, so the next full list is built from the rows (the cold path)',
  })
  @IsOptional()
  @IsIn(['true', 'false'])
  segments?: 'true' | 'false';
}
