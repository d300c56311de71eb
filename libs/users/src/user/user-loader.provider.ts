import type { RecordLoaderProvider } from '@app/cache-core';
import type { ReadSource } from '@app/common';
import type { UserRecord } from './user.record';
import { UserStore } from './user.store';

/** How the read-through cache loads a user: registered once, in the app module, and nowhere on the read path. */
export const USER_LOADER: RecordLoaderProvider = {
  inject: [UserStore],
  useFactory:
    (store: UserStore) =>
    (id: number, from?: ReadSource): Promise<UserRecord | null> =>
      store.findById(id, from),
};
