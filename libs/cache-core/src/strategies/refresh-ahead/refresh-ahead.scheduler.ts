import { RefreshAheadConfig } from '@app/common';
import { Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { CacheableRecord } from '../../cache-strategy';
import { RefreshAheadStrategy } from './refresh-ahead.strategy';

const SWEEP = 'refresh-ahead-sweep';

/** Runs the refresh-ahead sweep every `sweepIntervalMs` through `@nestjs/schedule`, never two at once. */
@Injectable()
export class RefreshAheadScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly strategy: RefreshAheadStrategy<CacheableRecord, unknown, unknown>,
    private readonly registry: SchedulerRegistry,
    private readonly options: RefreshAheadConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.sweepIntervalMs <= 0) return;
    const strategy = this.strategy;
    this.registry.addInterval(
      SWEEP,
      setInterval(() => void strategy.sweep(), this.options.sweepIntervalMs),
    );
  }

  onModuleDestroy(): void {
    if (this.registry.doesExist('interval', SWEEP)) this.registry.deleteInterval(SWEEP);
  }
}
