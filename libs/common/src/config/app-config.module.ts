import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { ConfigSlices } from './config-slices';

/**
 * Makes the slices of the one validated configuration injectable everywhere, by type. The bootstrap imports it
 * at the root, so an app module itself is static and says only what the app is made of.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(slices: ConfigSlices): DynamicModule {
    const providers = Object.values(slices).map((slice: object) => ({ provide: slice.constructor, useValue: slice }));
    return { module: AppConfigModule, providers, exports: providers.map((provider) => provider.provide) };
  }
}
