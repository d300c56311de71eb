import { InvalidInputError } from '@app/common';
import { Controller, Get, Query } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import { InstanceStats } from '../stats/instance-stats';

@ApiTags('stats')
@Controller('stats')
export class StatsController {
  constructor(private readonly stats: InstanceStats) {}

  /**
   * Counters of this process since it started, and latency percentiles over the last 10,000 reads and writes.
   * With `?scope=cluster`: the counters summed over every live instance of the app, and each one's own.
   */
  @Get()
  @ApiQuery({ name: 'scope', required: false, enum: ['instance', 'cluster'] })
  get(@Query('scope') scope: unknown): Promise<Record<string, unknown>> {
    if (scope === undefined || scope === 'instance') return this.stats.local();
    if (scope === 'cluster') return this.stats.cluster();
    throw new InvalidInputError('scope must be instance or cluster');
  }
}
