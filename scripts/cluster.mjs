#!/usr/bin/env node
// `npm run cluster:up` / `npm run cluster:down`: a local Redis Cluster of 3 masters and 3 replicas on
// 127.0.0.1:7000-7005 (CLUSTER_PORT_BASE moves it), from the local `redis-server` binary, with its data under
// .local/cluster-<base>/. `up` is idempotent: nodes already running are kept, the cluster is created only once, and it
// returns when `cluster_state:ok` and every slot is served. No Docker needed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './lib/server-process.mjs';

const BASE = Number(process.env.CLUSTER_PORT_BASE ?? 7000);
const PORTS = Array.from({ length: 6 }, (_, index) => BASE + index);
const dir = join(root, '.local', `cluster-${BASE}`);
const log = (message) => process.stdout.write(`[cluster] ${message}\n`);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function cli(port, ...args) {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  return { ok: result.status === 0 && !/^(ERR|Could not connect)/m.test(result.stdout), out: result.stdout.trim() };
}

const answers = (port) => cli(port, 'PING').out === 'PONG';

function startNode(port) {
  const nodeDir = join(dir, String(port));
  mkdirSync(nodeDir, { recursive: true });
  const started = spawnSync(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '2000',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--dir',
      nodeDir,
      '--daemonize',
      'yes',
      '--pidfile',
      join(nodeDir, 'redis.pid'),
      '--logfile',
      join(nodeDir, 'redis.log'),
    ],
    { encoding: 'utf8' },
  );
  if (started.status !== 0) throw new Error(`redis-server on ${port} did not start: ${started.stderr}`);
}

async function waitUntil(what, check, seconds = 30) {
  for (let i = 0; i < seconds * 10; i += 1) {
    if (check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

const healthy = () => {
  const info = cli(BASE, 'CLUSTER', 'INFO').out;
  return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info);
};

async function up() {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  }
  for (const port of PORTS) {
    if (answers(port)) continue;
    log(`starting a node on ${port}`);
    startNode(port);
  }
  await waitUntil('every node to answer', () => PORTS.every(answers));
  const known = Number(/cluster_known_nodes:(\d+)/.exec(cli(BASE, 'CLUSTER', 'INFO').out)?.[1] ?? 0);
  if (known < PORTS.length) {
    log('creating the cluster (3 masters, 1 replica each)');
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...PORTS.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8' },
    );
    if (created.status !== 0) throw new Error(`cluster create failed:\n${created.stdout}${created.stderr}`);
  }
  await waitUntil('cluster_state:ok', healthy, 60);
  // Replicas must have synced before a failover can promote them without losing what they should hold.
  await waitUntil('every replica to sync', () =>
    PORTS.every((port) => {
      const info = cli(port, 'INFO', 'replication').out;
      return /role:master/.test(info) || /master_link_status:up/.test(info);
    }),
  );
  log(`up: REDIS_CLUSTER_NODES=${PORTS.map((port) => `127.0.0.1:${port}`).join(',')}`);
}

async function down() {
  for (const port of PORTS) {
    const pidFile = join(dir, String(port), 'redis.pid');
    if (answers(port)) cli(port, 'SHUTDOWN', 'NOSAVE');
    else if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await waitUntil('every node to stop', () => PORTS.every((port) => !answers(port)));
  rmSync(dir, { recursive: true, force: true });
  log('down');
}

const command = process.argv[2];
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else throw new Error('usage: cluster.mjs up|down');
} catch (error) {
  process.stderr.write(`[cluster] ${error.message}\n`);
  process.exit(1);
}
