import { ReadThroughModule } from '@app/cache-core';
import { AppShellModule, patternApp } from '@app/shell';
import { USER_LOADER, USER_TABLES, UsersModule } from '@app/users';
import { Module } from '@nestjs/common';

@Module({
  imports: [AppShellModule.forRoot({ tables: USER_TABLES }), UsersModule, ReadThroughModule.withLoader(USER_LOADER)],
})
export class AppModule {}

export const READ_THROUGH = patternApp('read-through', { defaultPort: 8002, module: AppModule });
