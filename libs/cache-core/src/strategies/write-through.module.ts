import { Global, Module } from '@nestjs/common';
import { STRATEGY_EXPORTS, strategyProviders } from './strategy-providers';
import { WriteThroughStrategy } from './write-through.strategy';

/** Binds {@link WriteThroughStrategy} as the app's `CacheStrategy`. */
@Global()
@Module({ providers: strategyProviders(WriteThroughStrategy), exports: STRATEGY_EXPORTS })
export class WriteThroughModule {}
