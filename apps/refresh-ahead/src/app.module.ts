import { RefreshAheadStrategy } from '@app/cache-core';
import type { AppConfig } from '@app/common';
import { HotItemsController, type PatternAppDefinition, PatternAppModule, REFRESH_AHEAD_PROVIDERS } from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';

export const REFRESH_AHEAD: PatternAppDefinition = {
  pattern: 'refresh-ahead',
  defaultPort: 8005,
  strategy: RefreshAheadStrategy,
  providers: REFRESH_AHEAD_PROVIDERS,
  imports: () => [ScheduleModule.forRoot()],
  controllers: [HotItemsController],
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return PatternAppModule.forPattern(REFRESH_AHEAD, config);
  }
}
