import { WriteBehindModule } from '@app/cache-core';
import { AppShellModule, patternApp } from '@app/shell';
import { USER_TABLES, UsersModule } from '@app/users';
import { Module } from '@nestjs/common';

@Module({
  // No `POST /cache/clear`: the cache holds accepted changes Postgres does not have yet.
  imports: [
    AppShellModule.forRoot({ tables: USER_TABLES, cacheClear: false, needsRedis: true }),
    UsersModule,
    WriteBehindModule,
  ],
})
export class AppModule {}

export const WRITE_BEHIND = patternApp('write-behind', {
  defaultPort: 8004,
  module: AppModule,
  headless: (config) => config.writeBehind.role === 'worker',
});
