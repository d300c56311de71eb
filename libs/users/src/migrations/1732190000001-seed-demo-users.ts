import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The five demo users of the original FastAPI demo, inserted once per schema. */
export class SeedDemoUsers1732190000001 implements MigrationInterface {
  name = 'SeedDemoUsers1732190000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      INSERT INTO users (name, email, age) VALUES
        ('Alice Johnson', 'alice@example.com', 28),
        ('Bob Smith', 'bob@example.com', 35),
        ('Charlie Brown', 'charlie@example.com', 42),
        ('Diana Prince', 'diana@example.com', 31),
        ('Eve Anderson', 'eve@example.com', 26)
      ON CONFLICT DO NOTHING`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DELETE FROM users WHERE email LIKE '%@example.com' AND id <= 5`);
  }
}
