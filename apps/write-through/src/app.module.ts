import { WriteThroughStrategy } from '@app/cache-core';
import type { AppConfig } from '@app/common';
import { type PatternAppDefinition, PatternAppModule } from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';

export const WRITE_THROUGH: PatternAppDefinition = {
  pattern: 'write-through',
  defaultPort: 8003,
  strategy: WriteThroughStrategy,
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return PatternAppModule.forPattern(WRITE_THROUGH, config);
  }
}
