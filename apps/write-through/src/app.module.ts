import { WriteThroughModule } from '@app/cache-core';
import { AppShellModule, patternApp } from '@app/shell';
import { USER_TABLES, UsersModule } from '@app/users';
import { Module } from '@nestjs/common';

@Module({
  imports: [AppShellModule.forRoot({ tables: USER_TABLES }), UsersModule, WriteThroughModule],
})
export class AppModule {}

export const WRITE_THROUGH = patternApp('write-through', { defaultPort: 8003, module: AppModule });
