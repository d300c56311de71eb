import { RecordCache } from '@app/cache-core';
import type { HeaderWriter } from '@app/common';
import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  type HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly cache: RecordCache,
  ) {}

  /** Pings Postgres and Redis; 200 when both answer, 503 with each one's state otherwise. */
  @Get()
  @HealthCheck()
  async check(@Res({ passthrough: true }) response: HeaderWriter): Promise<HealthCheckResult> {
    try {
      return await this.probe();
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      response.status(503);
      return error.getResponse() as HealthCheckResult;
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
    ]);
  }
}
