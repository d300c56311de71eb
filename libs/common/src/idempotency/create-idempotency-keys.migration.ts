import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The answers to idempotent writes, kept for `IDEMPOTENCY_TTL_SECONDS` (expired rows are ignored, and pruned
 * in small batches by later writes). One table per app schema, so keys are scoped per app.
 */
export class CreateIdempotencyKeys1732390000000 implements MigrationInterface {
  name = 'CreateIdempotencyKeys1732390000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE idempotency_keys (
        scope text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        status integer NOT NULL,
        body jsonb NOT NULL,
        etag text,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (scope, key)
      )`);
    await queryRunner.query(`CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE idempotency_keys`);
  }
}
