import { CacheCoreModule } from '@app/cache-core';
import { AdminTokenGuard, DatabaseModule, type DatabaseTables } from '@app/common';
import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { CacheAdminController } from './http/cache-admin.controller';
import { HealthController, HealthOptions } from './http/health.controller';
import { StatsController } from './http/stats.controller';
import { MetricsModule } from './metrics/metrics.module';
import { PatternMetrics } from './metrics/pattern-metrics';
import { InstanceStats } from './stats/instance-stats';

export interface AppShellOptions {
  /** The domain's entities and migrations, in the app's own schema. */
  tables: DatabaseTables;
  /**
   * `GET /stats` and the metrics from the strategy and the shared counters; off for an app that answers and
   * registers them itself. `GET /metrics` is always there.
   */
  stats?: boolean;
  /** `POST /cache/clear`; off where the cache holds data Postgres does not have yet (write-behind). */
  cacheClear?: boolean;
  /**
   * True where the app cannot serve without Redis (write-behind): `/health` is then 503 when Redis is away.
   * Otherwise the app serves from Postgres meanwhile and `/health` answers 200 with status `degraded`.
   */
  needsRedis?: boolean;
}

/**
 * What every app shares and no domain owns: Postgres in the app's schema, the Redis layer under its key prefix,
 * `/health`, and unless turned off `/stats` and `POST /cache/clear`. The configuration comes from the bootstrap,
 * which imports it at the root (see `createApp`).
 */
@Module({})
export class AppShellModule {
  static forRoot(options: AppShellOptions): DynamicModule {
    return {
      module: AppShellModule,
      // Terminus logs every failed check at ERROR; the Redis layer already says when Redis is away.
      imports: [
        DatabaseModule.forRoot(options.tables),
        CacheCoreModule,
        TerminusModule.forRoot({ logger: false }),
        MetricsModule,
      ],
      controllers: [
        HealthController,
        ...(options.stats === false ? [] : [StatsController]),
        ...(options.cacheClear === false ? [] : [CacheAdminController]),
      ],
      providers: [
        { provide: HealthOptions, useValue: new HealthOptions(options.needsRedis ?? false) },
        AdminTokenGuard,
        ...(options.stats === false ? [] : [InstanceStats, PatternMetrics]),
      ],
    };
  }
}
