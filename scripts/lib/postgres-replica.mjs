// A private Postgres primary and a streaming replica, from the machine's Postgres binaries (`initdb`,
// `pg_basebackup -R`, `pg_ctl`), on ports of their own, in a folder of their own: for `npm run replica:up`, the
// replica tests and the bench. The shared Postgres on 5432 is never touched. Run as root, every binary runs as
// the `postgres` user (Postgres refuses to run as root).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, appendFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const SLOT = 'replica';

/** The newest Postgres under /usr/lib/postgresql, or the folder of `initdb` on the PATH. */
function binaries() {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0], 'bin');
  }
  return '';
}

const BIN = binaries();
const asRoot = process.getuid?.() === 0;

/** Runs a Postgres binary (as `postgres` when this process is root); throws with its output when it fails. */
function run(binary, args) {
  const file = BIN === '' ? binary : join(BIN, binary);
  const [command, commandArgs] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  const result = spawnSync(command, commandArgs, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${binary} ${args.join(' ')} failed: ${result.stderr || result.stdout || result.error}`);
  }
  return result.stdout;
}

/** A folder the `postgres` user owns (and may enter), created if missing. */
function ownedFolder(path) {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(path, uid, gid);
  }
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** The server at `dir` is up (its postmaster.pid says so, and pg_ctl agrees). */
function running(dir) {
  if (!existsSync(join(dir, 'postmaster.pid'))) return false;
  const file = BIN === '' ? 'pg_ctl' : join(BIN, 'pg_ctl');
  const [command, commandArgs] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', file, 'status', '-D', dir]]
    : [file, ['status', '-D', dir]];
  return spawnSync(command, commandArgs).status === 0;
}

function start(dir) {
  if (!running(dir)) run('pg_ctl', ['start', '-w', '-t', '60', '-D', dir, '-l', join(dir, 'server.log')]);
}

export class ReplicaPair {
  /**
   * @param {string} folder where both data folders live
   * @param {number} primaryPort
   * @param {number} replicaPort
   */
  constructor(folder, primaryPort, replicaPort) {
    this.folder = folder;
    this.primaryPort = primaryPort;
    this.replicaPort = replicaPort;
    this.primaryDir = join(folder, 'primary');
    this.replicaDir = join(folder, 'replica');
  }

  /** `postgres://…` for the primary (or the replica) and `database`. */
  url(database = 'postgres', which = 'primary') {
    return `postgres://postgres@127.0.0.1:${which === 'primary' ? this.primaryPort : this.replicaPort}/${database}`;
  }

  /**
   * Creates what is missing (idempotent), starts both servers and waits until the replica streams. The primary
   * keeps WAL for the replica in a replication slot, so a replica that was away cannot fall behind for good.
   * @returns {Promise<ReplicaPair>}
   */
  async up() {
    ownedFolder(this.folder);
    if (!existsSync(join(this.primaryDir, 'PG_VERSION'))) {
      rmSync(this.primaryDir, { recursive: true, force: true });
      run('initdb', ['-D', this.primaryDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
      appendFileSync(
        join(this.primaryDir, 'postgresql.conf'),
        [
          `port = ${this.primaryPort}`,
          "listen_addresses = '127.0.0.1'",
          `unix_socket_directories = '${this.folder}'`,
          'wal_level = replica',
          'max_wal_senders = 4',
          'max_replication_slots = 4',
          'hot_standby = on',
          'fsync = off',
          'full_page_writes = off',
          'max_connections = 200',
          '',
        ].join('\n'),
      );
      // initdb --auth=trust already lets local replication connections in; say so for 127.0.0.1 explicitly.
      appendFileSync(join(this.primaryDir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
    }
    start(this.primaryDir);
    const primary = new pg.Client({ connectionString: this.url() });
    await primary.connect();
    try {
      const { rows } = await primary.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
      if (rows.length === 0) await primary.query('SELECT pg_create_physical_replication_slot($1)', [SLOT]);
    } finally {
      await primary.end();
    }
    if (!existsSync(join(this.replicaDir, 'PG_VERSION'))) {
      rmSync(this.replicaDir, { recursive: true, force: true });
      run('pg_basebackup', [
        '-h',
        '127.0.0.1',
        '-p',
        String(this.primaryPort),
        '-U',
        'postgres',
        '-D',
        this.replicaDir,
        '-R',
        '-S',
        SLOT,
        '-X',
        'stream',
        '--no-sync',
      ]);
      appendFileSync(join(this.replicaDir, 'postgresql.conf'), `port = ${this.replicaPort}\n`);
      writeFileSync(join(this.replicaDir, 'standby.signal'), '');
    }
    start(this.replicaDir);
    await this.waitForStreaming();
    return this;
  }

  /** Waits until the primary lists the replica as streaming. */
  async waitForStreaming(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    const primary = new pg.Client({ connectionString: this.url() });
    await primary.connect();
    try {
      while (Date.now() < deadline) {
        const { rows } = await primary.query("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'");
        if (rows.length > 0) return;
        await sleep(100);
      }
      throw new Error('the replica does not stream');
    } finally {
      await primary.end();
    }
  }

  /** Stops both servers (fast shutdown); the data stays for the next `up`. */
  down() {
    for (const dir of [this.replicaDir, this.primaryDir]) {
      if (running(dir)) run('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', dir]);
    }
  }

  /** Stops only the replica (immediate: as a crash). */
  stopReplica() {
    if (running(this.replicaDir)) run('pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', this.replicaDir]);
  }

  startReplica() {
    start(this.replicaDir);
  }

  /** Stops both and deletes their data. */
  remove() {
    try {
      this.down();
    } finally {
      rmSync(this.folder, { recursive: true, force: true });
    }
  }
}
