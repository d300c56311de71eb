import { dropInvalidationOutbox, installInvalidationOutbox } from '@app/cache-core';
import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The invalidation outbox of posts: every committed change of a post leaves a row and a `NOTIFY`. */
export class CreatePostInvalidationOutbox1732490000000 implements MigrationInterface {
  name = 'CreatePostInvalidationOutbox1732490000000';

  up(queryRunner: QueryRunner): Promise<void> {
    return installInvalidationOutbox(queryRunner, 'posts');
  }

  down(queryRunner: QueryRunner): Promise<void> {
    return dropInvalidationOutbox(queryRunner, 'posts');
  }
}
