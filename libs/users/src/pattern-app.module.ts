import { CacheCoreModule, type CacheStrategy, type PatternName } from '@app/cache-core';
import { AdminTokenGuard, type AppConfig, AppConfigModule, DatabaseModule, loadAppConfig, startApp } from '@app/common';
import { type DynamicModule, type ModuleMetadata, Module, type Provider, type Type } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { CacheAdminController } from './http/cache-admin.controller';
import { HealthController } from './http/health.controller';
import { StatsController } from './http/stats.controller';
import { UsersController } from './http/users.controller';
import { USER_MIGRATIONS } from './migrations';
import { UserEntity } from './user/user.entity';
import { UserStore } from './user/user.store';
import { UserStoreModule } from './user/user-store.module';
import { UsersService } from './users.service';

/** What makes one pattern app different from the others: everything else is shared. */
export interface PatternAppDefinition {
  pattern: PatternName;
  defaultPort: number;
  strategy: Type<CacheStrategy>;
  /** Extra providers the strategy needs (processors, schedulers). */
  providers?: Provider[];
  /** Extra modules the strategy's providers need (queues, the scheduler). */
  imports?: (config: AppConfig) => NonNullable<ModuleMetadata['imports']>;
  /** When true for a configuration, the app runs without HTTP (a worker process). */
  headless?: (config: AppConfig) => boolean;
  /** Extra controllers, e.g. admin endpoints that belong to one pattern. */
  controllers?: Type[];
  /** `POST /cache/clear`; off where the cache holds data Postgres does not have yet (write-behind). */
  cacheClear?: boolean;
}

/** The schema and key prefix an app uses unless configured otherwise: the pattern's own. */
export function isolationFor(
  definition: PatternAppDefinition,
  config: AppConfig,
): { schema: string; keyPrefix: string } {
  return {
    schema: config.DATABASE_SCHEMA ?? definition.pattern.replace(/-/g, '_'),
    keyPrefix: config.REDIS_KEY_PREFIX ?? `${definition.pattern}:`,
  };
}

/**
 * The whole users app for one pattern: config, its own Postgres schema and Redis prefix, the bound
 * strategy, and the identical `/users`, `/stats`, `/health` controllers.
 */
@Module({})
export class PatternAppModule {
  static forPattern(definition: PatternAppDefinition, config: AppConfig): DynamicModule {
    const { schema, keyPrefix } = isolationFor(definition, config);
    return {
      module: PatternAppModule,
      imports: [
        AppConfigModule.forRoot(config),
        DatabaseModule.forRoot({
          schema,
          applicationName: definition.pattern,
          entities: [UserEntity],
          migrations: USER_MIGRATIONS,
        }),
        CacheCoreModule.forRoot({
          strategy: definition.strategy,
          store: UserStore,
          storeModule: UserStoreModule,
          providers: definition.providers ?? [],
          imports: definition.imports?.(config) ?? [],
          redisUrl: config.REDIS_URL,
          keyPrefix,
          commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
          writeTimeoutMs: config.REDIS_WRITE_TIMEOUT_MS,
          breakerFailures: config.REDIS_BREAKER_FAILURES,
          ttlSeconds: config.CACHE_TTL_SECONDS,
          ttlJitter: config.CACHE_TTL_JITTER,
          negativeTtlSeconds: config.NEGATIVE_TTL_SECONDS,
        }),
        TerminusModule,
      ],
      controllers: [
        UsersController,
        StatsController,
        HealthController,
        ...(definition.cacheClear === false ? [] : [CacheAdminController]),
        ...(definition.controllers ?? []),
      ],
      providers: [UsersService, AdminTokenGuard],
    };
  }
}

/** `main.ts` of every pattern app: validate the environment, build the module, listen (or run headless). */
export function startPatternApp(definition: PatternAppDefinition): Promise<unknown> {
  return startApp(loadAppConfig, (config) => PatternAppModule.forPattern(definition, config), {
    headless: definition.headless,
    name: definition.pattern,
    defaultPort: definition.defaultPort,
    title: `${definition.pattern} pattern`,
    description: `Users behind the ${definition.pattern} caching pattern, over PostgreSQL and Redis.`,
  });
}
