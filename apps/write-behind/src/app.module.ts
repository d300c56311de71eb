import { WriteBehindStrategy } from '@app/cache-core';
import type { AppConfig } from '@app/common';
import {
  isolationFor,
  type PatternAppDefinition,
  PatternAppModule,
  WRITE_BEHIND_PROVIDERS,
  WriteBehindController,
  writeBehindQueueModules,
} from '@app/users';
import { type DynamicModule, Module } from '@nestjs/common';

export const WRITE_BEHIND: PatternAppDefinition = {
  pattern: 'write-behind',
  defaultPort: 8004,
  strategy: WriteBehindStrategy,
  providers: WRITE_BEHIND_PROVIDERS,
  imports: (config) => writeBehindQueueModules(config, isolationFor(WRITE_BEHIND, config).keyPrefix),
  controllers: [WriteBehindController],
  cacheClear: false,
  headless: (config) => config.WRITE_BEHIND_ROLE === 'worker',
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return PatternAppModule.forPattern(WRITE_BEHIND, config);
  }
}
