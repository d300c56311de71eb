// A network between the apps and their stores: Postgres and Redis behind the latency proxy
// (scripts/latency-proxy.mjs), in a child process of its own, whose CPU time is read before and after a measurement.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { root } from '../../scripts/lib/server-process.mjs';

/**
 * Postgres and Redis `rttMs` away (round trip), through the latency proxy. Resolves once it listens, with the
 * URLs to give the apps, what its calibration measured (`addedMs`: the round trip a PING through it adds;
 * `holdMs`: what it holds each way for that), `cpuMicros()` (the proxy process's CPU time so far) and `close()`.
 * @param {{ databaseUrl: string, redisUrl: string, rttMs: number }} options
 */
export async function network({ databaseUrl, redisUrl, rttMs }) {
  const child = fork(join(root, 'scripts/latency-proxy.mjs'), ['--rtt', String(rttMs)], {
    env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const urls = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the latency proxy exited (${code}) before it listened`)));
  });
  return {
    rttMs,
    databaseUrl: urls.databaseUrl,
    redisUrl: urls.redisUrl,
    holdMs: urls.holdMs,
    addedMs: urls.addedMs,
    /** @returns {Promise<number>} */
    cpuMicros() {
      return new Promise((resolve) => {
        child.once('message', (message) => resolve(message.cpuMicros));
        child.send('cpu');
      });
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
