import { CreateIdempotencyKeys1732390000000 } from '@app/common';
import { CreateUsers1732190000000 } from './1732190000000-create-users';
import { SeedDemoUsers1732190000001 } from './1732190000001-seed-demo-users';
import { CreateUserTombstones1732190000002 } from './1732190000002-create-user-tombstones';
import { CreateUserInvalidationOutbox1732490000000 } from './1732490000000-create-user-invalidation-outbox';

/** In the order they run. */
export const USER_MIGRATIONS = [
  CreateUsers1732190000000,
  SeedDemoUsers1732190000001,
  CreateUserTombstones1732190000002,
  CreateIdempotencyKeys1732390000000,
  CreateUserInvalidationOutbox1732490000000,
];
