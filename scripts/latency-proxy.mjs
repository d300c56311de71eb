#!/usr/bin/env node
// `node scripts/latency-proxy.mjs --rtt <ms>`: Postgres and Redis a network away, for a bench or by hand. Starts
// a TCP proxy in front of each (DATABASE_URL, REDIS_URL; the local servers by default) that holds every chunk
// in each direction, in order, to within a few tens of microseconds (lib/precise-clock.mjs: this machine's
// kernel has no netem, so it is done in user space), and prints the URLs to use instead. It runs in a process of
// its own so that its work does not delay the load generator's, and the other way round.
//
// The hold is calibrated before it listens for anyone else (lib/round-trip.mjs): a PING through the proxy takes
// `--rtt` longer than one straight to Redis, measured, rather than half the round trip held each way plus what
// forwarding through a process costs on top. Both proxies hold the same time (the same code forwards both).
//
// Forked with an IPC channel (bench/lib/network.mjs), it sends `{ databaseUrl, redisUrl, holdMs, addedMs }` once
// listening and answers `'cpu'` with its CPU time so far (µs, user + system): what the proxies cost is measured,
// not guessed.
import { proxyInFront } from './lib/tcp-proxy.mjs';
import { PreciseClock } from './lib/precise-clock.mjs';
import { calibrateHold } from './lib/round-trip.mjs';

const at = process.argv.indexOf('--rtt');
const rttMs = at === -1 ? Number.NaN : Number(process.argv[at + 1]);
if (!Number.isFinite(rttMs) || rttMs < 0 || rttMs > 1000) {
  console.error('usage: node scripts/latency-proxy.mjs --rtt <ms, 0 to 1000>');
  process.exit(2);
}
const clock = new PreciseClock();
const database = await proxyInFront(
  process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/caching_patterns',
  5432,
  clock,
);
const redis = await proxyInFront(process.env.REDIS_URL ?? 'redis://localhost:6379', 6379, clock);
const { holdMs, addedMs, directMs } = await calibrateHold({
  rttMs,
  direct: { host: redis.proxy.targetHost, port: redis.proxy.targetPort },
  proxied: { host: '127.0.0.1', port: redis.proxy.port },
  setHold: (ms) => {
    for (const { proxy } of [database, redis]) proxy.delay(ms);
  },
});
const urls = { databaseUrl: database.url, redisUrl: redis.url, holdMs, addedMs };
if (process.env.LP_DEBUG) setInterval(() => console.error('lead', clock.lead), 1000).unref();

const close = async () => {
  await Promise.all([database.proxy.close(), redis.proxy.close()]);
  await clock.close();
  process.exit(0);
};
process.on('SIGTERM', () => void close());
process.on('SIGINT', () => void close());

if (process.send) {
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ cpuMicros: user + system });
    }
  });
  process.on('disconnect', () => void close());
  process.send(urls);
} else {
  console.log(`Postgres and Redis ${rttMs} ms away (round trip); Ctrl-C ends it.`);
  console.log(
    `A PING through it: ${addedMs.toFixed(2)} ms more than straight to Redis (${directMs.toFixed(2)} ms),` +
      ` holding ${holdMs.toFixed(3)} ms each way.`,
  );
  console.log(`DATABASE_URL=${urls.databaseUrl}`);
  console.log(`REDIS_URL=${urls.redisUrl}`);
}
