import { ReadThroughStrategy } from '@app/cache-core';
import type { AppConfig } from '@app/common';
import { type PatternAppDefinition, PatternAppModule, READ_THROUGH_LOADER_PROVIDER } from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';

export const READ_THROUGH: PatternAppDefinition = {
  pattern: 'read-through',
  defaultPort: 8002,
  strategy: ReadThroughStrategy,
  providers: [READ_THROUGH_LOADER_PROVIDER],
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return PatternAppModule.forPattern(READ_THROUGH, config);
  }
}
