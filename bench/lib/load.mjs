// Load shapes and one measurement: autocannon in this process against a server in another, with the
// server's own counters and Postgres's transaction count read before and after.
import autocannon from 'autocannon';

export const CONNECTIONS = 32;
export const USERS = 10_000;
export const ZIPF_S = 0.99;

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Zipf(s) over ranks 1..n by inverse CDF: rank 1 is the hottest. Returns an index in 0..n-1. */
export function zipfSampler(n, s) {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k += 1) cdf[k - 1] = total += 1 / k ** s;
  return () => {
    const target = Math.random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cdf[middle] < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

/** `GET /users/:id` with probability `readShare`, else `PATCH {age}`, on ids picked by `pick`. */
export function requestMix(ids, readShare, pick) {
  return [
    {
      setupRequest: (request) => {
        const id = ids[pick()];
        if (Math.random() < readShare) return { ...request, method: 'GET', path: `/users/${id}`, body: undefined };
        return {
          ...request,
          method: 'PATCH',
          path: `/users/${id}`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ age: Math.floor(Math.random() * 150) }),
        };
      },
    },
  ];
}

/** Reads every id once, in order (no duration: autocannon stops after `ids.length` requests). */
export async function readEach(port, ids) {
  let next = 0;
  await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    amount: ids.length,
    requests: requestMix(ids, 1, () => next++ % ids.length),
  });
}

export function load(port, requests, seconds, extra = {}) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests,
    ...extra,
  });
}

export function percentile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export async function stats(port) {
  const response = await fetch(`http://127.0.0.1:${port}/stats`);
  return response.ok ? response.json() : null;
}

function hitRatio(before, after) {
  if (!before || !after) return null;
  const hits = after.hits - before.hits;
  const reads = hits + (after.misses - before.misses) + (after.bypasses - before.bypasses);
  return reads === 0 ? null : hits / reads;
}

/**
 * Measures workloads of `duration` s each (after `warmup` s unmeasured), appending one row per workload to
 * `results` (each call may set its own `duration` and `warmup`, and `record: false` only returns the row).
 * `db` is a connected pg client for the transaction count.
 */
export function measurer({ db, results, progress, duration: defaultDuration, warmup: defaultWarmup }) {
  async function transactions() {
    await sleep(600); // Postgres publishes backend counters with a short delay
    const result = await db.query(
      'SELECT xact_commit + xact_rollback AS total FROM pg_stat_database WHERE datname = current_database()',
    );
    return Number(result.rows[0].total);
  }

  return async function measure({
    server,
    adapter,
    workload,
    port,
    requests,
    warm = true,
    pattern,
    extra,
    duration = defaultDuration,
    warmup = defaultWarmup,
    record = true,
    label = '',
  }) {
    progress(`${server}${adapter ? ` on ${adapter}` : ''}: ${workload}${label}`);
    if (warm) await load(port, requests, warmup, extra);
    const before = pattern ? await stats(port) : null;
    const xactBefore = await transactions();
    const lag = [];
    let sampling = pattern === 'write-behind';
    const sampler = (async () => {
      while (sampling) {
        const current = await stats(port).catch(() => null);
        if (current?.oldestPendingMs !== undefined) lag.push(current.oldestPendingMs ?? 0);
        await sleep(50);
      }
    })();
    const result = await load(port, requests, duration, extra);
    sampling = false;
    await sampler;
    const xactAfter = await transactions();
    const after = pattern ? await stats(port) : null;
    const row = {
      server,
      adapter: adapter ?? '-',
      workload,
      rps: Math.round(result.requests.average),
      p50: result.latency.p50,
      p99: result.latency.p99,
      hitRatio: hitRatio(before, after),
      pgQps: Math.round((xactAfter - xactBefore) / (duration + 0.6)),
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      flushLagP99Ms: pattern === 'write-behind' ? percentile(lag, 0.99) : null,
    };
    if (record) results.push(row);
    return row;
  };
}
