import { IdempotencyLedger } from '@app/common';
import {
  ConfigurableModuleBuilder,
  type DynamicModule,
  Module,
  type ModuleMetadata,
  type Provider,
  type Type,
} from '@nestjs/common';
import { CacheKeys } from './cache-keys';
import { CACHE_CORE_OPTIONS, type CacheCoreOptions } from './cache-core.options';
import { CacheStrategy } from './cache-strategy';
import { RecordStore } from './record-store';
import { RecordCache } from './redis/record-cache';
import { CacheStats } from './stats/cache-stats';

interface CacheCoreExtras {
  /** The one strategy this app runs; injected everywhere as `CacheStrategy`. */
  strategy: Type<CacheStrategy>;
  /** The system of record, provided by `storeModule`; injected into the strategy as `RecordStore`. */
  store: Type<RecordStore>;
  /** Module that provides and exports `store`. */
  storeModule: Type | DynamicModule;
  /** Extra providers a strategy needs (its processors, schedulers), from the strategy's own module. */
  providers: Provider[];
  /** Modules those providers need (a queue, the scheduler). */
  imports: NonNullable<ModuleMetadata['imports']>;
}

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<CacheCoreOptions>({
  optionsInjectionToken: CACHE_CORE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setExtras<CacheCoreExtras>(
    {
      strategy: undefined as unknown as Type<CacheStrategy>,
      store: undefined as unknown as Type<RecordStore>,
      storeModule: undefined as unknown as Type,
      providers: [],
      imports: [],
    },
    (definition, extras) => ({
      ...definition,
      global: true,
      imports: [...(definition.imports ?? []), extras.storeModule, ...extras.imports],
      providers: [
        ...(definition.providers ?? []),
        CacheStats,
        RecordCache,
        {
          provide: CacheKeys,
          inject: [CACHE_CORE_OPTIONS, extras.store],
          useFactory: (options: CacheCoreOptions, store: RecordStore) =>
            new CacheKeys(options.keyPrefix, store.entityName),
        },
        { provide: RecordStore, useExisting: extras.store },
        { provide: CacheStrategy, useClass: extras.strategy },
        { provide: IdempotencyLedger, useExisting: CacheStrategy },
        ...extras.providers,
      ],
      exports: [
        CacheStrategy,
        IdempotencyLedger,
        CacheStats,
        RecordCache,
        CacheKeys,
        CACHE_CORE_OPTIONS,
        ...extras.providers.map((provider) => ('provide' in provider ? provider.provide : provider)),
      ],
    }),
  )
  .build();

/**
 * Binds exactly one {@link CacheStrategy} for the app, with its Redis connection (fail-fast, separate from any
 * queue connection), key builder and stats. Global, so the users module injects `CacheStrategy` by type.
 */
@Module({})
export class CacheCoreModule extends ConfigurableModuleClass {}
