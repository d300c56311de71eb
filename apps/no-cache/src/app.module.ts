import { NoCacheStrategy } from '@app/cache-core';
import type { AppConfig } from '@app/common';
import { type PatternAppDefinition, PatternAppModule } from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';

/** The benchmark's baseline: the same users API reading and writing Postgres only. */
export const NO_CACHE: PatternAppDefinition = {
  pattern: 'no-cache',
  defaultPort: 8009,
  strategy: NoCacheStrategy,
  cacheClear: false,
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return PatternAppModule.forPattern(NO_CACHE, config);
  }
}
