import { RecordStore } from '@app/cache-core';
import { Global, Module } from '@nestjs/common';
import { PostStore } from './post.store';

/** Provides {@link PostStore}, and makes it the app's `RecordStore`, the system of record behind the cache. */
@Global()
@Module({
  providers: [PostStore, { provide: RecordStore, useExisting: PostStore }],
  exports: [PostStore, RecordStore],
})
export class PostStoreModule {}
