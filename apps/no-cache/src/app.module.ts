import { NoCacheModule } from '@app/cache-core';
import { AppShellModule, patternApp } from '@app/shell';
import { USER_TABLES, UsersModule } from '@app/users';
import { Module } from '@nestjs/common';

/** The benchmark's baseline: the same users API reading and writing Postgres only. */
@Module({
  imports: [AppShellModule.forRoot({ tables: USER_TABLES, cacheClear: false }), UsersModule, NoCacheModule],
})
export class AppModule {}

export const NO_CACHE = patternApp('no-cache', { defaultPort: 8009, module: AppModule });
