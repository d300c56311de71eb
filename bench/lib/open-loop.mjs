// Latency measured open loop: requests sent at a fixed rate whatever the answers do, as a user population does,
// well below what the server can take. At 32 closed-loop connections (autocannon) a p50 is mostly queueing
// behind the other 31 requests; here each request finds the server idle, so its latency is the request's own:
// the client's send and parse, the server's work and every round trip to a store it waits for.
import { Agent, get } from 'node:http';
import { PreciseClock } from '../../scripts/lib/precise-clock.mjs';
import { percentile } from './load.mjs';

/** A request that has not answered after this long counts as an error (no request waits unboundedly). */
const TIMEOUT_MS = 5000;

/**
 * GETs `path()` on 127.0.0.1:`port` at `rate` per second for `seconds`, each at its scheduled time (to within
 * the clock's tens of µs) on a pool of keep-alive connections, none waiting for another's answer. Latency is
 * from the request's send to its last byte (ms, fractional). `late`: how far behind schedule sends went (p99),
 * which says whether the client kept the rate.
 */
export async function openLoop({ port, path, rate, seconds }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const clock = new PreciseClock();
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const latencies = [];
  const late = [];
  let non2xx = 0;
  let errors = 0;
  try {
    await new Promise((done) => {
      let sent = 0;
      let ended = 0;
      const end = () => {
        ended += 1;
        if (ended === total) done();
      };
      const send = () => {
        const sentAt = performance.now();
        const request = get({ host: '127.0.0.1', port, path: path(), agent }, (response) => {
          response.resume();
          response.on('end', () => {
            latencies.push(performance.now() - sentAt);
            if (response.statusCode < 200 || response.statusCode >= 300) non2xx += 1;
            end();
          });
        });
        request.setTimeout(TIMEOUT_MS, () => request.destroy(new Error('timed out')));
        request.on('error', () => {
          errors += 1;
          end();
        });
      };
      const start = clock.now() + 20;
      const tick = () => {
        const now = clock.now();
        while (sent < total && start + sent * interval <= now) {
          late.push(now - (start + sent * interval));
          sent += 1;
          send();
        }
        if (sent < total) clock.wakeAt(start + sent * interval, tick);
      };
      clock.wakeAt(start, tick);
    });
  } finally {
    agent.destroy();
    await clock.close();
  }
  const ms = (value) => (value === null ? null : Math.round(value * 1000) / 1000);
  return {
    rate,
    requests: total,
    p50: ms(percentile(latencies, 0.5)),
    p90: ms(percentile(latencies, 0.9)),
    p99: ms(percentile(latencies, 0.99)),
    lateP99: ms(percentile(late, 0.99)),
    non2xx,
    errors,
  };
}
