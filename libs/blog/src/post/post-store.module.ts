import { Module } from '@nestjs/common';
import { PostStore } from './post.store';

/** Provides {@link PostStore}; handed to `CacheCoreModule.forRoot({ storeModule })` and used by the list cache. */
@Module({
  providers: [PostStore],
  exports: [PostStore],
})
export class PostStoreModule {}
