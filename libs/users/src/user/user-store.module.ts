import { Module } from '@nestjs/common';
import { UserStore } from './user.store';

/** Provides {@link UserStore}; handed to `CacheCoreModule.forRoot({ storeModule })`. */
@Module({
  providers: [UserStore],
  exports: [UserStore],
})
export class UserStoreModule {}
