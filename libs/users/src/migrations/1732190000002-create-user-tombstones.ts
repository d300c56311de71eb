import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ids of deleted users, for write-behind: a retried or reordered upsert of a deleted user must not bring it
 * back. Ids come from a sequence and are never reused, so the table only grows by one small row per delete.
 */
export class CreateUserTombstones1732190000002 implements MigrationInterface {
  name = 'CreateUserTombstones1732190000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE user_tombstones (id integer PRIMARY KEY, version integer NOT NULL)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE user_tombstones`);
  }
}
