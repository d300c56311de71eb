import { RECORD_LOADER, type RecordLoader } from '@app/cache-core';
import type { Provider } from '@nestjs/common';
import type { UserRecord } from './user.record';
import { UserStore } from './user.store';

/** Registers how the read-through cache loads a user: once, here, and nowhere on the read path. */
export const READ_THROUGH_LOADER_PROVIDER: Provider = {
  provide: RECORD_LOADER,
  inject: [UserStore],
  useFactory:
    (store: UserStore): RecordLoader<UserRecord> =>
    (id) =>
      store.findById(id),
};
