import { type DynamicModule, type FactoryProvider, Module } from '@nestjs/common';
import type { CacheableRecord } from '../cache-strategy';
import { RECORD_LOADER, type RecordLoader, ReadThroughStrategy } from './read-through.strategy';
import { STRATEGY_EXPORTS, strategyProviders } from './strategy-providers';

/** How the app loads one record: registered once, here, and nowhere on the read path. */
export type RecordLoaderProvider = Omit<FactoryProvider<RecordLoader<CacheableRecord>>, 'provide'>;

/** Binds {@link ReadThroughStrategy} as the app's `CacheStrategy`, with the loader the cache calls on a miss. */
@Module({})
export class ReadThroughModule {
  static withLoader(loader: RecordLoaderProvider): DynamicModule {
    return {
      module: ReadThroughModule,
      global: true,
      providers: [{ provide: RECORD_LOADER, ...loader }, ...strategyProviders(ReadThroughStrategy)],
      exports: STRATEGY_EXPORTS,
    };
  }
}
