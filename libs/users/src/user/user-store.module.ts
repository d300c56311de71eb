import { RecordStore, WriteBehindStore } from '@app/cache-core';
import { Global, Module } from '@nestjs/common';
import { UserStore } from './user.store';

/**
 * Provides {@link UserStore}, and makes it the app's `RecordStore` (the system of record behind the cache) and
 * `WriteBehindStore` (what write-behind flushes to).
 */
@Global()
@Module({
  providers: [
    UserStore,
    { provide: RecordStore, useExisting: UserStore },
    { provide: WriteBehindStore, useExisting: UserStore },
  ],
  exports: [UserStore, RecordStore, WriteBehindStore],
})
export class UserStoreModule {}
