import { ApiProperty, PartialType } from '@nestjs/swagger';
import { IsEmail, IsInt, IsString, Length, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import type { UserRecord } from './user.record';

/** Body of `POST /users` and `PUT /users/:id`: every field required. */
export class CreateUserDto {
  @ApiProperty({ example: 'Alice Johnson', minLength: 1, maxLength: 255 })
  @IsString()
  @Length(1, 255)
  @Matches(/\S/, { message: 'name must not be blank' })
  name!: string;

  @ApiProperty({ example: 'alice@example.com', maxLength: 255, description: 'Unique, case-insensitive' })
  @IsString()
  @MaxLength(255)
  @IsEmail()
  email!: string;

  @ApiProperty({ example: 28, type: 'integer', minimum: 0, maximum: 150 })
  @IsInt()
  @Min(0)
  @Max(150)
  age!: number;
}

/** Body of `PUT /users/:id`: a full replacement, same rules as create. */
export class ReplaceUserDto extends CreateUserDto {}

/**
 * Body of `PATCH /users/:id`: any non-empty subset. Fields may be absent but not null
 * (`ValidateIf` instead of `IsOptional`, which would let null through).
 */
export class PatchUserDto extends PartialType(CreateUserDto) {
  @ValidateIf((_, value) => value !== undefined)
  declare name?: string;

  @ValidateIf((_, value) => value !== undefined)
  declare email?: string;

  @ValidateIf((_, value) => value !== undefined)
  declare age?: number;
}

/** A user as the API returns it. */
export class UserDto {
  @ApiProperty({ example: 1, type: 'integer', minimum: 1 })
  id!: number;

  @ApiProperty({ example: 'Alice Johnson' })
  name!: string;

  @ApiProperty({ example: 'alice@example.com' })
  email!: string;

  @ApiProperty({ example: 28, type: 'integer', minimum: 0, maximum: 150 })
  age!: number;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', description: 'ISO 8601, UTC' })
  createdAt!: string;

  @ApiProperty({ example: '2026-11-21T12:00:00.000Z', description: 'ISO 8601, UTC' })
  updatedAt!: string;
}

export function toUserDto(record: UserRecord): UserDto {
  return {
    id: record.id,
    name: record.name,
    email: record.email,
    age: record.age,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
