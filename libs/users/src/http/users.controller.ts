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
  WriteConditions,
} from '@app/common';
import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Put, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { CreateUserDto, PatchUserDto, ReplaceUserDto, toUserDto, UserDto } from '../user/user.dto';
import type { UserRecord } from '../user/user.record';
import { UsersService } from '../users.service';

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @Idempotent()
  @ApiConditionalWrite(false, { status: 201, type: UserDto })
  async create(
    @Body() body: CreateUserDto,
    @Conditions() conditions: WriteConditions,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<UserDto> {
    return sent(response, await this.users.create(body, conditions.options(201, toUserDto)));
  }

  @Get(':id')
  @ApiConditionalRead(UserDto, {
    ...CACHE_READ_HEADERS,
  })
  async get(
    @Param('id', ParseIdPipe) id: number,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<UserDto | undefined> {
    const read = await this.users.get(id);
    const user = read.user;
    for (const [name, value] of Object.entries(read.headers)) response.header(name, value);
    if (!ifNoneMatchHits(ifNoneMatch, user.version)) return sent(response, user);
    response.header('ETag', etagFor(user.version));
    response.status(304);
    return undefined;
  }

  @Put(':id')
  @Idempotent()
  @ApiConditionalWrite(true, { status: 200, type: UserDto })
  async replace(
    @Param('id', ParseIdPipe) id: number,
    @Body() body: ReplaceUserDto,
    @Conditions() conditions: WriteConditions,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<UserDto> {
    return sent(response, await this.users.update(id, body, conditions.options(200, toUserDto)));
  }

  @Patch(':id')
  @Idempotent()
  @ApiConditionalWrite(true, { status: 200, type: UserDto })
  async patch(
    @Param('id', ParseIdPipe) id: number,
    @Body() body: PatchUserDto,
    @Conditions() conditions: WriteConditions,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<UserDto> {
    return sent(response, await this.users.update(id, body, conditions.options(200, toUserDto)));
  }

  @Delete(':id')
  @Idempotent()
  @HttpCode(204)
  @ApiConditionalWrite(true, { status: 204 })
  async remove(@Param('id', ParseIdPipe) id: number, @Conditions() conditions: WriteConditions): Promise<void> {
    await this.users.remove(id, conditions.options<UserRecord>(204));
  }
}

/** The user as the body, with its version as the `ETag`. */
function sent(response: HeaderWriter, user: UserRecord): UserDto {
  response.header('ETag', etagFor(user.version));
  return toUserDto(user);
}
