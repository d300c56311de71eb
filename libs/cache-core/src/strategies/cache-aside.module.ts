import { Global, Module } from '@nestjs/common';
import { CacheAsideStrategy } from './cache-aside.strategy';
import { STRATEGY_EXPORTS, strategyProviders } from './strategy-providers';

/** Binds {@link CacheAsideStrategy} as the app's `CacheStrategy`. */
@Global()
@Module({ providers: strategyProviders(CacheAsideStrategy), exports: STRATEGY_EXPORTS })
export class CacheAsideModule {}
