import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The list's gzip segments kept in Postgres, so that a cold Redis does not rebuild 519 MB of JSON: each with the
 * fingerprint of the rows it was built from (see `PostStore.keptSegment`). No trigger keeps them: a segment is
 * used only while its rows' fingerprint is unchanged, so a write anywhere, by anyone, retires it.
 */
export class CreatePostListChunks1732590000000 implements MigrationInterface {
  name = 'CreatePostListChunks1732590000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE post_list_chunks (
        chunk_size integer NOT NULL,
        chunk integer NOT NULL,
        fingerprint text NOT NULL,
        segment bytea NOT NULL,
        PRIMARY KEY (chunk_size, chunk)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE post_list_chunks`);
  }
}
