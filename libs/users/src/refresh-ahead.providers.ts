import { HotKeys, REFRESH_AHEAD_OPTIONS, RefreshAheadScheduler, type RefreshAheadOptions } from '@app/cache-core';
import { AppConfig } from '@app/common';
import type { Provider } from '@nestjs/common';

/** What the refresh-ahead strategy needs besides the shared cache core, configured from the environment. */
export const REFRESH_AHEAD_PROVIDERS: Provider[] = [
  {
    provide: REFRESH_AHEAD_OPTIONS,
    inject: [AppConfig],
    useFactory: (config: AppConfig): RefreshAheadOptions => ({
      sweepIntervalMs: config.REFRESH_INTERVAL_MS,
      threshold: config.REFRESH_THRESHOLD,
      budget: config.REFRESH_BUDGET,
      hotKeysMax: config.HOT_KEYS_MAX,
      hotHalfLifeSeconds: config.HOT_HALF_LIFE_SECONDS,
      hotMinScore: config.HOT_MIN_SCORE,
      xfetchBeta: config.XFETCH_BETA,
    }),
  },
  HotKeys,
  RefreshAheadScheduler,
];
