import { createServer } from 'node:net';

/**
 * Ports below Linux's ephemeral range (32768+), from a range of this process's own, never the same one twice:
 * asking the kernel for port 0 and closing it lets two processes get the same port, which one of them then finds
 * taken when its server starts a moment later (or shares, when a test keeps a port free on purpose as "Redis is
 * down"). A Jest worker's range follows its `JEST_WORKER_ID`; any other process's, its pid.
 */
const worker = Number(process.env.JEST_WORKER_ID ?? 0);
const SPAN = worker > 0 ? 2_000 : 500;
const BASE = worker > 0 ? 20_000 + ((worker - 1) % 6) * SPAN : 22_000 + (process.pid % 20) * SPAN;
let handedOut = 0;

/** @param {number} port */
function canListen(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/**
 * A TCP port nothing listens on right now, and that this process has not handed out before.
 * @returns {Promise<number>}
 */
export async function freePort() {
  for (let tries = 0; tries < SPAN; tries += 1) {
    const port = BASE + (handedOut % SPAN);
    handedOut += 1;
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${BASE}-${BASE + SPAN - 1}`);
}
