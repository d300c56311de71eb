import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CacheStrategy } from '../../cache-strategy';
import { REFRESH_AHEAD_OPTIONS, type RefreshAheadOptions } from './refresh-ahead.options';
import { RefreshAheadStrategy } from './refresh-ahead.strategy';

const SWEEP = 'refresh-ahead-sweep';

/** Runs the refresh-ahead sweep every `sweepIntervalMs` through `@nestjs/schedule`, never two at once. */
@Injectable()
export class RefreshAheadScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly strategy: CacheStrategy,
    private readonly registry: SchedulerRegistry,
    @Inject(REFRESH_AHEAD_OPTIONS) private readonly options: RefreshAheadOptions,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.sweepIntervalMs <= 0) return;
    if (!(this.strategy instanceof RefreshAheadStrategy))
      throw new Error('RefreshAheadScheduler needs RefreshAheadStrategy');
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
