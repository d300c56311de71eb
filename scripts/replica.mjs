#!/usr/bin/env node
// `npm run replica:up` / `npm run replica:down`: a private Postgres primary (port 5433) and a streaming replica
// (5434) from the machine's Postgres binaries, data in .local/replica (kept by `down`; `down -- --remove` deletes
// it). Idempotent; `up` waits until the replica streams and prints the settings that point an app at the pair.
// Ports: REPLICA_PRIMARY_PORT, REPLICA_PORT. The shared Postgres on 5432 is not touched.
import { join } from 'node:path';
import { ReplicaPair } from './lib/postgres-replica.mjs';

const primaryPort = Number(process.env.REPLICA_PRIMARY_PORT ?? 5433);
const replicaPort = Number(process.env.REPLICA_PORT ?? 5434);
const pair = new ReplicaPair(join(process.cwd(), '.local', 'replica'), primaryPort, replicaPort);
const [command = 'up', flag] = process.argv.slice(2);

if (command === 'up') {
  await pair.up();
  console.log(`primary on ${primaryPort}, replica on ${replicaPort} (streaming); data in ${pair.folder}`);
  console.log(`DATABASE_URL=${pair.url('caching_patterns')}`);
  console.log(`DATABASE_REPLICA_URLS=${pair.url('caching_patterns', 'replica')}`);
} else if (command === 'down') {
  if (flag === '--remove') pair.remove();
  else pair.down();
  console.log(flag === '--remove' ? 'stopped, data removed' : 'stopped (data kept in .local/replica)');
} else {
  console.error('usage: replica.mjs up | down [--remove]');
  process.exit(2);
}
