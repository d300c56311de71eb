#!/usr/bin/env node
// `npm start`: make sure Postgres and Redis answer, build, then run every app in nest-cli.json side by side.
// Services are looked for at DATABASE_URL and REDIS_URL; when they do not answer they are started with Docker
// Compose if a Docker engine runs, else from local `postgres` / `redis-server` binaries with their data under
// .local/ (git-ignored), else this stops and says what to install.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { nodeFlagsFor } from './lib/server-process.mjs';

const root = resolve(import.meta.dirname, '..');
const local = join(root, '.local');
const databaseUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns');
const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://localhost:6379');
const services = {
  postgres: { host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) },
  redis: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) },
};

const log = (message) => process.stdout.write(`[start] ${message}\n`);

function answers({ host, port }) {
  return new Promise((done) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('timeout', () => (socket.destroy(), done(false)));
    socket.once('error', () => done(false));
  });
}

async function waitFor(name, service, seconds = 60) {
  for (let i = 0; i < seconds * 4; i += 1) {
    if (await answers(service)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not answer on ${service.host}:${service.port} within ${seconds} s`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  return result.status === 0;
}

function which(binary, extraDirs = []) {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...extraDirs];
  return dirs.map((dir) => join(dir, binary)).find((path) => existsSync(path));
}

function postgresBinDirs() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(base, version, 'bin'));
}

function startLocalPostgres() {
  const initdb = which('initdb', postgresBinDirs());
  const pgCtl = which('pg_ctl', postgresBinDirs());
  if (!initdb || !pgCtl) return false;
  if (process.getuid?.() === 0) {
    log('Postgres refuses to run as root; start it as a service instead (see docs/install.md).');
    return false;
  }
  const data = join(local, 'postgres');
  if (!existsSync(join(data, 'PG_VERSION'))) {
    mkdirSync(local, { recursive: true });
    if (!run(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'])) return false;
  }
  const options = `-p ${services.postgres.port} -c listen_addresses=${services.postgres.host} -k ${local}`;
  return run(pgCtl, ['-D', data, '-o', options, '-l', join(local, 'postgres.log'), '-w', 'start']);
}

function startLocalRedis() {
  const redisServer = which('redis-server');
  if (!redisServer) return false;
  const data = join(local, 'redis');
  mkdirSync(data, { recursive: true });
  return run(redisServer, [
    '--port',
    String(services.redis.port),
    '--bind',
    services.redis.host,
    '--daemonize',
    'yes',
    '--dir',
    data,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--logfile',
    join(local, 'redis.log'),
  ]);
}

async function ensureServices() {
  const down = [];
  for (const [name, service] of Object.entries(services)) {
    if (await answers(service)) log(`${name} answers on ${service.host}:${service.port}`);
    else down.push(name);
  }
  if (down.length === 0) return;
  const dockerEngine = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
  if (dockerEngine) {
    log(`starting ${down.join(' and ')} with Docker Compose`);
    if (!run('docker', ['compose', 'up', '-d', '--wait', ...down])) throw new Error('docker compose up failed');
  } else {
    for (const name of down) {
      log(`starting ${name} from local binaries, data in .local/`);
      const started = name === 'postgres' ? startLocalPostgres() : startLocalRedis();
      if (!started) {
        throw new Error(
          `${name} is not answering on ${services[name].host}:${services[name].port}, no Docker engine is running, ` +
            `and no usable local ${name === 'postgres' ? 'PostgreSQL (initdb, pg_ctl)' : 'redis-server'} was found.\n` +
            `Install Docker, or PostgreSQL 15+ and Redis 7 (e.g. apt install postgresql redis-server), ` +
            `or point ${name === 'postgres' ? 'DATABASE_URL' : 'REDIS_URL'} at a running server.`,
        );
      }
    }
  }
  for (const name of down) await waitFor(name, services[name]);
}

function startApps() {
  const cli = JSON.parse(readFileSync(join(root, 'nest-cli.json'), 'utf8'));
  const apps = Object.entries(cli.projects).filter(([, project]) => project.type === 'application');
  // A local demo: admin endpoints (cache clear, warm, dead letters) stay usable without a token.
  const adminOpen = process.env.ADMIN_TOKEN === undefined;
  if (adminOpen) log('ADMIN_OPEN=true: admin endpoints are open to anyone here; set ADMIN_TOKEN to close them');
  // The apps' logs are prefixed with their name here: text, coloured only when this runs on a terminal.
  const logFormat = process.env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'text');
  const urls = new Map();
  const children = apps.map(([name, project]) => {
    const entry = join(root, 'dist', `${project.entryFile}.js`);
    const child = spawn(process.execPath, ['--enable-source-maps', ...nodeFlagsFor(name), entry], {
      cwd: root,
      env: {
        ...process.env,
        LOG_FORMAT: logFormat,
        ...(adminOpen ? { ADMIN_OPEN: process.env.ADMIN_OPEN ?? 'true' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream.on('data', (chunk) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          process.stdout.write(`[${name}] ${line}\n`);
          // eslint-disable-next-line no-control-regex
          const listening = /listening on (http:\/\/[^\s;]+)/.exec(line.replace(/\x1b\[[0-9;]*m/g, ''));
          if (listening) urls.set(name, listening[1].replace('0.0.0.0', 'localhost'));
        }
      });
    }
    child.on('exit', (code, signal) => log(`${name} exited (${signal ?? code})`));
    return child;
  });
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) child.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  let running = children.length;
  for (const child of children) {
    child.on('exit', (code) => {
      running -= 1;
      if (code !== 0 && !stopping) process.exitCode = 1;
      if (running === 0) process.exit();
    });
  }
  log(`starting ${apps.map(([name]) => name).join(', ')}`);
  return { names: apps.map(([name]) => name), urls, children };
}

/** What each app answers with once it is up, for the banner. */
const ENTRY_POINTS = {
  dashboard: { path: '/', what: 'the five patterns side by side, live' },
  blog: { path: '/posts/1', what: 'the blog demo; GET /posts streams every post' },
  'no-cache': { path: '/users/1', what: "the bench's baseline, no cache" },
};

/** Waits until every app answers on the URL it logged, then prints where everything is. */
async function announce({ names, urls, children }, startedAt) {
  const up = new Set();
  let lastReport = Date.now();
  while (up.size < names.length) {
    if (children.some((child) => child.exitCode !== null)) return;
    for (const name of names) {
      if (up.has(name) || !urls.has(name)) continue;
      const health = name === 'dashboard' ? '/api/state' : '/health';
      const answered = await fetch(`${urls.get(name)}${health}`, { signal: AbortSignal.timeout(1000) }).catch(
        () => null,
      );
      if (answered !== null) up.add(name);
    }
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      const waiting = names.filter((name) => !up.has(name));
      log(`waiting for ${waiting.join(', ')}${waiting.includes('blog') ? ' (a first start seeds 500,000 posts)' : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const width = Math.max(...names.map((name) => name.length));
  const lines = names.map((name) => {
    const url = urls.get(name);
    const entry = ENTRY_POINTS[name] ?? { path: '/users/1', what: `the ${name} pattern; /stats, /health` };
    const docs = name === 'dashboard' ? '' : `  docs ${url}/docs`;
    return `  ${name.padEnd(width)}  ${`${url}${entry.path}`.padEnd(32)}${docs}  ${entry.what}`;
  });
  log(`everything is up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s:`);
  for (const line of lines) process.stdout.write(`${line}\n`);
  log(`every app serves Prometheus metrics at /metrics; Ctrl-C stops them all`);
}

try {
  await ensureServices();
  const startedAt = Date.now();
  log('building (nest build, about 20 s)');
  if (!run(process.execPath, [join(root, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build']))
    process.exit(1);
  log(`built in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  await announce(startApps(), startedAt);
} catch (error) {
  process.stderr.write(`[start] ${error.message}\n`);
  process.exit(1);
}
