import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { ReplicaPair } from '../../scripts/lib/postgres-replica.mjs';
import { freePort } from './free-port';

export { ReplicaPair };

/** A private primary + streaming replica pair on free ports in a temp folder (`remove()` when done). */
export async function startReplicaPair(): Promise<ReplicaPair> {
  const folder = mkdtempSync(join(tmpdir(), 'replica-pair-'));
  const pair = new ReplicaPair(folder, await freePort(), await freePort());
  try {
    return await pair.up();
  } catch (error) {
    pair.remove();
    throw error;
  }
}

/** A client of the pair's replica, on `database`. */
export async function replicaClient(pair: ReplicaPair, database: string): Promise<Client> {
  const client = new Client({ connectionString: pair.url(database, 'replica') });
  await client.connect();
  return client;
}
