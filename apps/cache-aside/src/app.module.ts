import { CacheAsideModule } from '@app/cache-core';
import { AppShellModule, patternApp } from '@app/shell';
import { USER_TABLES, UsersModule } from '@app/users';
import { Module } from '@nestjs/common';

@Module({
  imports: [AppShellModule.forRoot({ tables: USER_TABLES }), UsersModule, CacheAsideModule],
})
export class AppModule {}

export const CACHE_ASIDE = patternApp('cache-aside', { defaultPort: 8001, module: AppModule });
