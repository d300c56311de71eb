import { createHash } from 'node:crypto';
import type { QueryRunner } from 'typeorm';

/** The outbox table, in each app's schema. */
export const OUTBOX_TABLE = 'cache_invalidations';

/** Postgres truncates nothing: a channel name must fit in 63 bytes. */
function channel(schema: string, suffix: string): string {
  const name = `${schema}.${suffix}`;
  return Buffer.byteLength(name) <= 63 ? name : `${createHash('sha1').update(schema).digest('hex')}.${suffix}`;
}

/**
 * The two `NOTIFY` channels of an app's schema: `changes` carries each committed change (`[outboxId, recordId,
 * version, operation]`), `applied` says which changes an instance has applied to Redis (and that it is alive).
 */
export function outboxChannels(schema: string): { changes: string; applied: string } {
  return { changes: channel(schema, 'cache_changes'), applied: channel(schema, 'cache_applied') };
}

const quote = (identifier: string): string => `"${identifier.replace(/"/g, '""')}"`;
const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/**
 * Creates the outbox and a trigger on `table` that writes one row per changed record into it and sends a
 * `NOTIFY`, in the transaction of the change itself: the invalidation exists if and only if the change
 * committed, and is delivered only on commit. Every write reaches it, the app's and anyone else's (psql, a
 * migration), except a transaction that sets `cache.outbox = 'off'` (the blog's seed of an empty table).
 * The row's version is the new row's, or for a deletion the deleted row's version + 1.
 */
export async function installInvalidationOutbox(runner: QueryRunner, table: string): Promise<void> {
  const [{ schema }] = (await runner.query('SELECT current_schema() AS schema')) as [{ schema: string }];
  const outbox = `${quote(schema)}.${quote(OUTBOX_TABLE)}`;
  const fn = `${quote(schema)}.${quote(`${table}_cache_invalidation`)}`;
  await runner.query(`CREATE TABLE ${outbox} (
    id bigserial PRIMARY KEY,
    record_id integer NOT NULL,
    version integer NOT NULL,
    operation char(1) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
  )`);
  await runner.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      changed_id integer;
      changed_version integer;
      outbox_id bigint;
    BEGIN
      IF current_setting('cache.outbox', true) = 'off' THEN RETURN NULL; END IF;
      IF TG_OP = 'DELETE' THEN
        changed_id := OLD.id; changed_version := OLD.version + 1;
      ELSE
        changed_id := NEW.id; changed_version := NEW.version;
      END IF;
      INSERT INTO ${outbox} (record_id, version, operation)
        VALUES (changed_id, changed_version, left(TG_OP, 1)) RETURNING id INTO outbox_id;
      PERFORM pg_notify(${literal(outboxChannels(schema).changes)},
        json_build_array(outbox_id, changed_id, changed_version, left(TG_OP, 1))::text);
      RETURN NULL;
    END $$`);
  await runner.query(
    `CREATE TRIGGER ${quote(`${table}_cache_invalidation`)} AFTER INSERT OR UPDATE OR DELETE ON ${quote(schema)}.${quote(table)}
     FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
  );
}

export async function dropInvalidationOutbox(runner: QueryRunner, table: string): Promise<void> {
  await runner.query(`DROP TRIGGER IF EXISTS ${quote(`${table}_cache_invalidation`)} ON ${quote(table)}`);
  await runner.query(`DROP FUNCTION IF EXISTS ${quote(`${table}_cache_invalidation`)}()`);
  await runner.query(`DROP TABLE IF EXISTS ${quote(OUTBOX_TABLE)}`);
}
