import { CacheHealth, RecordCache } from '@app/cache-core';
import { DatabaseReplicas, type HeaderWriter } from '@app/common';
import { Controller, Get, Optional, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  type HealthCheckResult,
  HealthCheckService,
  type HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';

/** Whether this app can serve without Redis (see `AppShellOptions.needsRedis`). */
export class HealthOptions {
  constructor(readonly needsRedis: boolean) {}
}

/** Terminus's result, or `degraded`: serving, with Redis away or slower than its command timeout. */
export type HealthBody = Omit<HealthCheckResult, 'status'> & { status: HealthCheckResult['status'] | 'degraded' };

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly cache: RecordCache,
    private readonly options: HealthOptions,
    private readonly replicas: DatabaseReplicas,
    @Optional() private readonly pattern?: CacheHealth,
  ) {}

  /**
   * Pings Postgres and Redis, and adds the pattern's own check where it has one (write-behind: `cache`, down while
   * it refuses writes under an eviction policy or after Redis lost accepted changes). 200 `ok` when all answer; 200 `degraded` when only Redis does not (or not within
   * its command timeout) and the app serves from Postgres meanwhile, or when a read replica is skipped (down, or
   * too far behind: `replicas` lists each) and the primary serves its reads; 503 when the app cannot serve.
   */
  @Get()
  @HealthCheck()
  @ApiOkResponse({ description: '`ok`, or `degraded`: serving without Redis, or without a read replica' })
  @ApiServiceUnavailableResponse({ description: 'Postgres is away, or Redis is and this app needs it' })
  async check(@Res({ passthrough: true }) response: HeaderWriter): Promise<HealthBody> {
    try {
      return await this.probe();
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as HealthCheckResult;
      // Serving still, from Postgres without Redis, or from the primary without a replica.
      const failed = Object.keys(result.error ?? {});
      const servable = failed.every((name) => name === 'replicas' || (name === 'redis' && !this.options.needsRedis));
      if (servable) return { ...result, status: 'degraded' };
      response.status(503);
      return result;
    }
  }

  private probe(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.database.pingCheck('postgres', { timeout: 1000 }),
      async () => {
        const redis = this.indicators.check('redis');
        try {
          await this.cache.ping();
          return redis.up();
        } catch (error) {
          return redis.down({ message: (error as Error).message });
        }
      },
      ...(this.pattern === undefined ? [] : [() => this.patternCheck(this.pattern!)]),
      ...(this.replicas.configured ? [() => this.replicasCheck()] : []),
    ]);
  }

  /** `replicas`: each read replica, up and in use or not; down (degraded) while any is skipped. */
  private replicasCheck(): HealthIndicatorResult {
    const indicator = this.indicators.check('replicas');
    const replicas = this.replicas.states();
    return replicas.every((replica) => replica.used) ? indicator.up({ replicas }) : indicator.down({ replicas });
  }

  private patternCheck(health: CacheHealth): HealthIndicatorResult {
    const indicator = this.indicators.check('cache');
    const { up, message, details } = health.report();
    const info = message === undefined ? details : { message, ...details };
    return up ? indicator.up(info) : indicator.down(info);
  }
}
