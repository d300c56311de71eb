import { createServer } from 'node:net';

/**
 * Each Jest worker hands out ports from its own range, below Linux's ephemeral range (32768+), never the same
 * one twice: asking the kernel for port 0 and closing it lets two workers get the same port, which a test that
 * starts its server a second later (or keeps a port free on purpose, as "Redis is down") then shares.
 */
const SPAN = 2_000;
const BASE = 20_000 + ((Number(process.env.JEST_WORKER_ID ?? 1) - 1) % 6) * SPAN;
let handedOut = 0;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port nothing listens on right now, and that no other test of this run is given. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SPAN; tries += 1) {
    const port = BASE + (handedOut % SPAN);
    handedOut += 1;
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${BASE}-${BASE + SPAN - 1}`);
}
