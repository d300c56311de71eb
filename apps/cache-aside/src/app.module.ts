import { CacheAsideStrategy } from '@app/cache-core';
import type { AppConfig } from '@app/common';
import { type PatternAppDefinition, PatternAppModule } from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';

export const CACHE_ASIDE: PatternAppDefinition = {
  pattern: 'cache-aside',
  defaultPort: 8001,
  strategy: CacheAsideStrategy,
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return PatternAppModule.forPattern(CACHE_ASIDE, config);
  }
}
