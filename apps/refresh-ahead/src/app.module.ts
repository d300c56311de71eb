import { RefreshAheadModule } from '@app/cache-core';
import { AppShellModule, patternApp } from '@app/shell';
import { USER_TABLES, UsersModule } from '@app/users';
import { Module } from '@nestjs/common';

@Module({
  imports: [AppShellModule.forRoot({ tables: USER_TABLES }), UsersModule, RefreshAheadModule],
})
export class AppModule {}

export const REFRESH_AHEAD = patternApp('refresh-ahead', { defaultPort: 8005, module: AppModule });
