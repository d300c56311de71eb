import { CreateIdempotencyKeys1732390000000 } from '@app/common';
import { CreatePosts1732290000000 } from './1732290000000-create-posts';
import { CreatePostInvalidationOutbox1732490000000 } from './1732490000000-create-post-invalidation-outbox';
import { CreatePostListChunks1732590000000 } from './1732590000000-create-post-list-chunks';

/** In the order they run. */
export const POST_MIGRATIONS = [
  CreatePosts1732290000000,
  CreateIdempotencyKeys1732390000000,
  CreatePostInvalidationOutbox1732490000000,
  CreatePostListChunks1732590000000,
];
