import { Client } from 'pg';

const DUPLICATE_DATABASE = '42P04';
const DUPLICATE_SCHEMA = '42P06';
const UNIQUE_VIOLATION = '23505';

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function withClient<T>(
  connectionString: string,
  timeoutMs: number,
  run: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString, connectionTimeoutMillis: timeoutMs });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

function isRaceLoss(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === DUPLICATE_DATABASE || code === DUPLICATE_SCHEMA || code === UNIQUE_VIOLATION;
}

/**
 * Creates the database named in `databaseUrl` and `schema` inside it when they do not exist yet.
 * Safe when several apps start at once: losing the creation race is success.
 */
export async function ensureDatabaseAndSchema(databaseUrl: string, schema: string, timeoutMs: number): Promise<void> {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.slice(1)) || 'postgres';
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = '/postgres';

  await withClient(maintenance.toString(), timeoutMs, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${quoteIdentifier(database)}`).catch((error: unknown) => {
        if (!isRaceLoss(error)) throw error;
      });
    }
  });
  await withClient(databaseUrl, timeoutMs, async (client) => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`).catch((error: unknown) => {
      if (!isRaceLoss(error)) throw error;
    });
  });
}
