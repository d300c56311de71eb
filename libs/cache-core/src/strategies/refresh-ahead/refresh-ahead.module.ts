import { Global, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { STRATEGY_EXPORTS, strategyProviders } from '../strategy-providers';
import { HotItemsController } from './hot-items.controller';
import { HotKeys } from './hot-keys';
import { HotSet } from './hot-set';
import { RefreshAheadScheduler } from './refresh-ahead.scheduler';
import { RefreshAheadStrategy } from './refresh-ahead.strategy';

/**
 * Binds {@link RefreshAheadStrategy} as the app's `CacheStrategy`, with what it owns: the hot set, the scheduled
 * sweep and `GET /hot-items`.
 */
@Global()
@Module({
  imports: [ScheduleModule.forRoot()],
  controllers: [HotItemsController],
  providers: [...strategyProviders(RefreshAheadStrategy), HotSet, HotKeys, RefreshAheadScheduler],
  exports: STRATEGY_EXPORTS,
})
export class RefreshAheadModule {}
