import { dropInvalidationOutbox, installInvalidationOutbox } from '@app/cache-core';
import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The invalidation outbox of users: every committed change of a user leaves a row and a `NOTIFY`. */
export class CreateUserInvalidationOutbox1732490000000 implements MigrationInterface {
  name = 'CreateUserInvalidationOutbox1732490000000';

  up(queryRunner: QueryRunner): Promise<void> {
    return installInvalidationOutbox(queryRunner, 'users');
  }

  down(queryRunner: QueryRunner): Promise<void> {
    return dropInvalidationOutbox(queryRunner, 'users');
  }
}
