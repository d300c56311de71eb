import { Global, Module } from '@nestjs/common';
import { NoCacheStrategy } from './no-cache.strategy';
import { STRATEGY_EXPORTS, strategyProviders } from './strategy-providers';

/** Binds {@link NoCacheStrategy}, the benchmark's baseline, as the app's `CacheStrategy`. */
@Global()
@Module({ providers: strategyProviders(NoCacheStrategy), exports: STRATEGY_EXPORTS })
export class NoCacheModule {}
