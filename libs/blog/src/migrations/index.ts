import { CreateIdempotencyKeys1732390000000 } from '@app/common';
import { CreatePosts1732290000000 } from './1732290000000-create-posts';
import { CreatePostInvalidationOutbox1732490000000 } from './1732490000000-create-post-invalidation-outbox';

/** In the order they run. */
export const POST_MIGRATIONS = [
  CreatePosts1732290000000,
  CreateIdempotencyKeys1732390000000,
  CreatePostInvalidationOutbox1732490000000,
];
