import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ProgressBar } from './progress-bar';

/** The seed's shape: 10 topics and 6 authors in rotation. */
export const SEED_TOPICS = [
  'Python',
  'JavaScript',
  'TypeScript',
  'Node.js',
  'PostgreSQL',
  'Redis',
  'Docker',
  'Kubernetes',
  'Caching',
  'System Design',
];
export const SEED_AUTHORS = ['Alice', 'Bob', 'Charlie', 'Diana', 'Eve', 'Frank'];

const BATCH = 50_000;

/**
 * Fills an empty posts table with the demo dataset in bulk SQL (`INSERT … SELECT generate_series`, one
 * statement per 50,000 posts, all in one transaction), so a crash half way leaves the table empty and the
 * next start seeds again. Post `i` gets id `i`, title `<topic> Best Practices - Part <i>`, the topic's
 * sentence 20 times as content, and the next author in rotation.
 */
@Injectable()
export class PostSeeder {
  private readonly logger = new Logger(PostSeeder.name);

  constructor(private readonly dataSource: DataSource) {}

  /** Seeds `count` posts unless the table has any; returns how many it inserted. Safe to run from several processes. */
  async seedIfEmpty(count: number, options: { progress: boolean }): Promise<number> {
    if (count === 0) return 0;
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      // The bulk insert outlives the per-statement timeout; its commit need not wait for the disk (a crash re-seeds).
      await runner.query(`SET LOCAL statement_timeout = 0`);
      await runner.query(`SET LOCAL synchronous_commit = off`);
      // No invalidation per seeded post (the outbox trigger): the table was empty, so nothing of it is cached.
      await runner.query(`SET LOCAL cache.outbox = 'off'`);
      // Two processes starting at once: the second waits here, then finds the table full.
      await runner.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.posts.seed'))`);
      const [{ seeded }] = (await runner.query(`SELECT EXISTS (SELECT 1 FROM posts) AS seeded`)) as [
        { seeded: boolean },
      ];
      if (seeded) {
        await runner.rollbackTransaction();
        return 0;
      }
      const bar = options.progress ? new ProgressBar('Seeding posts', count) : undefined;
      bar?.update(0);
      const startedAt = Date.now();
      for (let from = 1; from <= count; from += BATCH) {
        const to = Math.min(count, from + BATCH - 1);
        await runner.query(
          `INSERT INTO posts (id, title, content, author)
           SELECT i, topic || ' Best Practices - Part ' || i, repeat('This is a detailed article about ' || topic || '. ', 20),
                  ($4::text[])[1 + (i - 1) % cardinality($4::text[])]
           FROM generate_series($1::int, $2::int) AS i,
                LATERAL (SELECT ($3::text[])[1 + (i - 1) % cardinality($3::text[])] AS topic) AS t`,
          [from, to, SEED_TOPICS, SEED_AUTHORS],
        );
        bar?.update(to);
      }
      await runner.query(`SELECT setval(pg_get_serial_sequence('posts', 'id'), $1)`, [count]);
      // Statistics for the planner now, not whenever autovacuum comes by (never, where it is off): without them it
      // guesses a chunk's id range holds ~2,800 rows and reads it with a bitmap scan and a sort of every row's
      // text, where an index scan returns them in order (a cold full list: 1.7 s of Postgres CPU against 1.0 s).
      await runner.query(`ANALYZE posts`);
      await runner.commitTransaction();
      bar?.finish();
      this.logger.log(`Seeded ${count.toLocaleString('en-US')} posts in ${Date.now() - startedAt} ms`);
      return count;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }
}
