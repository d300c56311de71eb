import { connect } from 'node:net';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A Redis round trip, measured: the p50 of `count` PINGs on one connection, one at a time, 1 ms apart (so each
 * finds the path idle, as the open-loop bench's requests do). Raw RESP on a socket: nothing but the round trip and
 * one event-loop wake-up at each end. In a worker thread, so that a proxy measuring itself from its own process
 * does not answer its own pings on the thread that sends them.
 * @param {{ host: string, port: number }} redis Redis, or a proxy in front of it
 * @param {number} [count]
 * @returns {Promise<number>} ms
 */
export function pingP50({ host, port }, count = 300) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { host, port, count } });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the ping worker exited (${code}) before it answered`)));
  });
}

/**
 * Sets a proxy's hold (half the round trip, each way) so that the round trip it adds, measured, is `rttMs`.
 * Forwarding through a process costs a round trip of its own (two more event-loop wake-ups each way: ~0.25 ms on
 * this project's machine), and a held chunk goes out a little after its deadline, so holding `rttMs / 2` each
 * way added 1.3-1.5 ms for a 1 ms round trip. The hold is lowered by half the error until the added round
 * trip (PING p50 through the proxy minus PING p50 straight to Redis) is within 0.02 ms of `rttMs`, or after
 * four tries; it never goes below 0, so `rttMs = 0` leaves the hold at 0 and only measures the proxy itself.
 * @param {{ rttMs: number, direct: { host: string, port: number }, proxied: { host: string, port: number },
 *   setHold: (ms: number) => void }} options
 * @returns {Promise<{ holdMs: number, addedMs: number, directMs: number }>}
 */
export async function calibrateHold({ rttMs, direct, proxied, setHold }) {
  let holdMs = rttMs / 2;
  setHold(holdMs);
  const directMs = await pingP50(direct);
  let addedMs = (await pingP50(proxied)) - directMs;
  for (let tries = 0; tries < 4 && rttMs > 0 && Math.abs(addedMs - rttMs) > 0.02; tries += 1) {
    holdMs = Math.max(0, holdMs - (addedMs - rttMs) / 2);
    setHold(holdMs);
    addedMs = (await pingP50(proxied)) - directMs;
  }
  return { holdMs, addedMs, directMs };
}

/** The worker's side of {@link pingP50}. */
async function pings({ host, port, count }) {
  const socket = connect(port, host);
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let answered = () => {};
  let received = '';
  socket.on('data', (data) => {
    received += data.toString('latin1');
    if (received.endsWith('\r\n')) {
      received = '';
      answered();
    }
  });
  const ping = () => {
    const sentAt = performance.now();
    return new Promise((resolve) => {
      answered = () => resolve(performance.now() - sentAt);
      socket.write('PING\r\n');
    });
  };
  for (let warm = 0; warm < 20; warm += 1) await ping();
  const times = [];
  for (let index = 0; index < count; index += 1) {
    times.push(await ping());
    await sleep(1);
  }
  socket.destroy();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

if (!isMainThread && workerData?.port !== undefined) parentPort.postMessage(await pings(workerData));
