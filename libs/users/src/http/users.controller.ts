import { type HeaderWriter, ParseIdPipe } from '@app/common';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Res } from '@nestjs/common';
import { ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CreateUserDto, PatchUserDto, ReplaceUserDto, toUserDto, UserDto } from '../user/user.dto';
import { UsersService } from '../users.service';

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  async create(@Body() body: CreateUserDto): Promise<UserDto> {
    return toUserDto(await this.users.create(body));
  }

  @Get(':id')
  @ApiOkResponse({ type: UserDto })
  @ApiHeader({ name: 'X-Cache', description: 'HIT, MISS, or BYPASS when Redis is unavailable' })
  async get(
    @Param('id', ParseIdPipe) id: number,
    @Res({ passthrough: true }) response: HeaderWriter,
  ): Promise<UserDto> {
    const { user, outcome } = await this.users.get(id);
    response.header('X-Cache', outcome);
    return toUserDto(user);
  }

  @Put(':id')
  async replace(@Param('id', ParseIdPipe) id: number, @Body() body: ReplaceUserDto): Promise<UserDto> {
    return toUserDto(await this.users.update(id, body));
  }

  @Patch(':id')
  async patch(@Param('id', ParseIdPipe) id: number, @Body() body: PatchUserDto): Promise<UserDto> {
    return toUserDto(await this.users.update(id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  async remove(@Param('id', ParseIdPipe) id: number): Promise<void> {
    await this.users.remove(id);
  }
}
