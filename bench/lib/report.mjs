// The bench's report: the table of every measurement, the targets it checks, and a bar chart of the reads.
import { CONNECTIONS, USERS, ZIPF_S } from './load.mjs';

function best(results, server, adapter, workload) {
  return results.find((row) => row.server === server && row.adapter === adapter && row.workload.startsWith(workload));
}

const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];

/**
 * `a`'s req/s over `b`'s. Rows measured head to head (same `rounds` count) compare round by round, and the ratio
 * is the median of the rounds' ratios (`byRound` keeps them all).
 */
function compared(a, b) {
  if (!a || !b || b.rps <= 0) return { value: null, byRound: [] };
  if (a.rounds?.length > 1 && a.rounds.length === b.rounds?.length) {
    const byRound = a.rounds.map((rps, round) => rps / b.rounds[round]);
    return { value: median(byRound), byRound };
  }
  return { value: a.rps / b.rps, byRound: [] };
}

function ratio(a, b) {
  return compared(a, b).value;
}

function targets(results, details) {
  const lines = [];
  const check = (label, measured, goal, format = (v) => `${(v * 100).toFixed(0)}%`) => {
    const { value, byRound } =
      typeof measured === 'number' || measured === null ? { value: measured, byRound: [] } : measured;
    const rounds = byRound.length > 1 ? ` (rounds: ${byRound.map(format).join(', ')})` : '';
    lines.push(
      `| ${label} | ${value === null ? 'n/a' : format(value)}${rounds} | ${format(goal)} | ${value === null ? '-' : value >= goal ? 'met' : 'not met'} |`,
    );
  };
  check(
    'cache-aside hits on Fastify vs bare node:http + Redis',
    compared(
      best(results, 'cache-aside', 'fastify', 'hits only'),
      best(results, 'node:http + Redis', '-', 'read-heavy'),
    ),
    0.9,
  );
  check(
    'cache-aside hits on Express vs bare Express 5 + Redis',
    compared(
      best(results, 'cache-aside', 'express', 'hits only'),
      best(results, 'Express + Redis', 'express', 'read-heavy'),
    ),
    0.95,
  );
  check(
    'cache-aside hits on Express vs bare Nest-on-Express + Redis',
    compared(
      best(results, 'cache-aside', 'express', 'hits only'),
      best(results, 'Nest route + Redis', 'express', 'read-heavy'),
    ),
    0.85,
  );
  for (const adapter of ['express', 'fastify']) {
    for (const pattern of ['read-through', 'write-through', 'write-behind', 'refresh-ahead']) {
      check(
        `${pattern} hits vs cache-aside hits, ${adapter === 'express' ? 'Express' : 'Fastify'}`,
        compared(best(results, pattern, adapter, 'hits only'), best(results, 'cache-aside', adapter, 'hits only')),
        0.85,
      );
    }
  }
  check(
    'cache-aside hits vs no-cache baseline reads, Fastify',
    ratio(best(results, 'cache-aside', 'fastify', 'hits only'), best(results, 'no-cache', 'fastify', 'read-heavy')),
    2.5,
    (v) => `${v.toFixed(2)}×`,
  );
  check(
    'write-behind vs write-through accepted writes/s, Fastify',
    compared(
      best(results, 'write-behind', 'fastify', 'writes only'),
      best(results, 'write-through', 'fastify', 'writes only'),
    ),
    3,
    (v) => `${v.toFixed(2)}×`,
  );
  if (details.flushRowsPerSecond !== undefined) {
    lines.push(
      `| write-behind flush throughput (rows/s) | ${details.flushRowsPerSecond} | 10000 | ${details.flushRowsPerSecond >= 10_000 ? 'met' : 'not met'} |`,
    );
  }
  if (details.lagP99Ms !== undefined && details.lagP99Ms !== null) {
    lines.push(
      `| write-behind p99 flush lag at 1,000 writes/s (ms) | ${details.lagP99Ms} | < 2000 | ${details.lagP99Ms < 2000 ? 'met' : 'not met'} |`,
    );
  }
  lines.push(...blogTargets(details.blog));
  lines.push(...clusterTargets(results));
  lines.push(...networkTargets(details.network));
  return lines;
}

/** A target row: `value` against `goal`, met when at least it (`atMost`: at most it). */
function targetLine(label, value, goal, format, { atMost = false, goalText } = {}) {
  const met = value === null || value === undefined ? null : atMost ? value <= goal : value >= goal;
  const shown = value === null || value === undefined ? 'n/a' : format(value);
  return `| ${label} | ${shown} | ${goalText ?? `${atMost ? '≤' : '≥'} ${format(goal)}`} | ${met === null ? '-' : met ? 'met' : 'not met'} |`;
}

/** Every read a hit and no load on Postgres on the Redis Cluster; no write refused there. */
function clusterTargets(results) {
  const hits = best(results, 'cache-aside on a Redis Cluster', 'fastify', 'hits only');
  const writes = best(results, 'write-behind on a Redis Cluster', 'fastify', 'writes only');
  if (!hits && !writes) return [];
  return [
    targetLine('cache-aside hits on a Redis Cluster: hit ratio', hits?.hitRatio ?? null, 1, (v) => v.toFixed(3), {
      goalText: '1.000',
    }),
    targetLine('cache-aside hits on a Redis Cluster: Postgres q/s', hits?.pgQps ?? null, 5, String, { atMost: true }),
    targetLine(
      'write-behind writes on a Redis Cluster: non-2xx + errors',
      writes ? writes.non2xx + writes.errors : null,
      0,
      String,
      { atMost: true },
    ),
  ];
}

const rttLabel = (rttMs) => (rttMs === null ? 'loopback' : `${rttMs} ms`);

function networkRow(network, rttMs, server, workload) {
  return network.rows.find((row) => row.rttMs === rttMs && row.server === server && row.workload.startsWith(workload));
}

/** The network targets, at 1 ms of round trip (`networkRun`). */
function networkTargets(network) {
  if (network === undefined) return [];
  const rtt = 1;
  const near = compared(
    networkRow(network, rtt, 'cache-aside, near cache on', 'hits only'),
    networkRow(network, rtt, 'cache-aside, near cache off', 'hits only'),
  );
  const writes = compared(
    networkRow(network, rtt, 'write-behind', 'writes only'),
    networkRow(network, rtt, 'write-through', 'writes only'),
  );
  const open = (server) => network.openLoop.find((row) => row.rttMs === rtt && row.server === server);
  const redisHit = open('cache-aside, near cache off');
  const nearHit = open('cache-aside, near cache on');
  const times = (v) => `${v.toFixed(2)}×`;
  const byRound = ({ byRound: rounds }) => (rounds.length > 1 ? ` (rounds: ${rounds.map(times).join(', ')})` : '');
  const ms = (v) => `${v.toFixed(2)} ms`;
  return [
    `| ${rtt} ms round trip: near-cache hits vs Redis hits, Fastify, req/s | ${near.value === null ? 'n/a' : times(near.value)}${byRound(near)} | ≥ 1.50× | ${near.value === null ? '-' : near.value >= 1.5 ? 'met' : 'not met'} |`,
    `| ${rtt} ms round trip: write-behind vs write-through accepted writes/s, Fastify | ${writes.value === null ? 'n/a' : times(writes.value)}${byRound(writes)} | ≥ 3.00× | ${writes.value === null ? '-' : writes.value >= 3 ? 'met' : 'not met'} |`,
    targetLine(
      `${rtt} ms round trip, open loop at ${network.rate}/s: near hit p50 vs Redis hit p50`,
      nearHit && redisHit ? nearHit.p50 / redisHit.p50 : null,
      0.3,
      times,
      { atMost: true },
    ),
    targetLine(
      `${rtt} ms round trip, open loop at ${network.rate}/s: cache-aside Redis hit p50`,
      redisHit?.p50 ?? null,
      rtt + 0.5,
      ms,
      { atMost: true, goalText: `≤ ${ms(rtt + 0.5)} (round trip + 0.5 ms)` },
    ),
  ];
}

/** The network rows: what the same servers do with Postgres and Redis 0, 0.5 and 1 ms away. */
function networkLines(network, blog) {
  if (network === undefined) return [];
  const rtts = [...new Set(network.rows.map((row) => row.rttMs))];
  const rps = (row) => (row ? String(row.rps) : '-');
  const share = (row) =>
    row?.proxyCoreShare === null || row?.proxyCoreShare === undefined
      ? '-'
      : `${(100 * row.proxyCoreShare).toFixed(0)} %`;
  const throughput = rtts.map((rttMs) => {
    const off = networkRow(network, rttMs, 'cache-aside, near cache off', 'hits only');
    const on = networkRow(network, rttMs, 'cache-aside, near cache on', 'hits only');
    const readHeavy = networkRow(network, rttMs, 'cache-aside, near cache off', 'read-heavy');
    const wt = networkRow(network, rttMs, 'write-through', 'writes only');
    const wb = networkRow(network, rttMs, 'write-behind', 'writes only');
    const nearRatio = compared(on, off).value;
    const writeRatio = compared(wb, wt).value;
    const blogHit =
      blog?.network?.find((row) => row.rttMs === rttMs)?.listHitMs ?? (rttMs === null ? blog?.listHitMs : undefined);
    const proxy = network.proxies?.find((row) => row.rttMs === rttMs);
    const measured = proxy === undefined ? '-' : `${proxy.addedMs.toFixed(2)} ms (${proxy.holdMs.toFixed(2)} ms)`;
    return `| ${rttLabel(rttMs)} | ${measured} | ${rps(off)} (${share(off)}) | ${rps(on)} | ${nearRatio === null ? '-' : `${nearRatio.toFixed(2)}×`} | ${rps(readHeavy)} (${share(readHeavy)}) | ${rps(wt)} (${share(wt)}) | ${rps(wb)} (${share(wb)}) | ${writeRatio === null ? '-' : `${writeRatio.toFixed(2)}×`} | ${blogHit === undefined ? '-' : `${(blogHit / 1000).toFixed(2)} s`} |`;
  });
  const latency = network.openLoop.map(
    (row) =>
      `| ${rttLabel(row.rttMs)} | ${row.server} | ${row.p50.toFixed(2)} | ${row.p90.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.hitRatio.toFixed(3)} | ${(100 * row.nearShare).toFixed(1)} % | ${row.lateP99.toFixed(2)} | ${row.non2xx + row.errors} |`,
  );
  return [
    '## A network between the apps and their stores',
    '',
    'The same servers with Postgres and Redis behind the latency proxy (`scripts/latency-proxy.mjs`, in a process of',
    'its own), which holds every chunk in each direction: "0 ms" is the proxy alone, "loopback" no proxy at all. Its',
    'hold is calibrated first: "measured" is how much longer a PING to Redis took through it than straight (p50 of',
    '300, 1 ms apart), and in brackets what it held each way for that; forwarding through a process is a round trip',
    'of its own, which the hold makes up for. Fastify; the near cache holds every user (`NEAR_CACHE_MAX_ENTRIES=10000`).',
    'Throughput is head to',
    `head as above (${network.rows.find((row) => row.rounds)?.rounds?.length ?? 1} rounds, 32 connections); in brackets, the proxy process's CPU while the row ran, as a share of one`,
    "core (of this machine's two). The blog's row is its full-list hit (gzip, median of 5).",
    '',
    '| round trip | measured (hold) | hits, near cache off, req/s | hits, near cache on, req/s | on / off | read-heavy (95% reads), req/s | write-through writes/s | write-behind writes/s | behind / through | blog list hit |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...throughput,
    '',
    `Latency, open loop: GETs sent at a fixed ${network.rate} per second for ${network.seconds} s whatever the answers do (each on`,
    'a keep-alive connection of a pool, none waiting for another), Zipf ids, every read a hit; ms from send to last',
    "byte, so the client's own send and parse are in it. “late p99”: how far behind schedule the client sent.",
    '',
    '| round trip | server | p50 ms | p90 ms | p99 ms | hit ratio | answered by the near cache | late p99 ms | non-2xx + errors |',
    '|---|---|---|---|---|---|---|---|---|',
    ...latency,
    '',
  ];
}

const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** The blog's targets (`details.blog`, from `measureBlog`), each at most its goal. */
function blogTargets(blog) {
  if (blog === undefined) return [];
  const posts = blog.posts.toLocaleString('en-US');
  return [
    [`blog: full list after POST /cache/clear, gzip, ${posts} posts`, blog.listMissMs, 3000, seconds],
    [
      `blog: cold full list (cache cleared, kept segments dropped), gzip, ${posts} posts`,
      blog.coldListMs ?? null,
      3000,
      seconds,
    ],
    ['blog: full list, hit, gzip (median of 5)', blog.listHitMs, 300, seconds],
    [
      'blog: full list after one write vs a hit (median of 6 writes)',
      blog.afterWriteMs / blog.listHitMs,
      1.5,
      (v) => `${v.toFixed(2)}×`,
    ],
    ['blog: peak RSS of the blog process', blog.peakRssBytes ?? null, 300e6, (v) => `${(v / 1e6).toFixed(0)} MB`],
    [`blog: start on an empty schema, seeding ${posts} posts`, blog.startSeconds * 1000, 15_000, seconds],
  ].map(
    ([label, value, goal, format]) =>
      `| ${label} | ${value === null ? 'n/a' : format(value)} | ≤ ${format(goal)} | ${value === null ? '-' : value <= goal ? 'met' : 'not met'} |`,
  );
}

/** The blog's own numbers, under the targets. */
function blogLines(blog) {
  if (blog === undefined) return [];
  const ms = (value) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
  return [
    `Blog, ${blog.posts.toLocaleString('en-US')} posts (the client of \`npm run demo:blog\`, time to the last byte): healthy ${blog.startSeconds} s after start on an empty schema (seeding), list warm ${seconds(blog.warmWaitMs)} later; single post miss ${ms(blog.singleMissMs)}, hit ${ms(blog.singleHitMs)} (p50; p99 ${ms(blog.singleHitP99Ms)}); full list ${(blog.listBytes / 1e6).toFixed(0)} MB of JSON, ${(blog.listMissBytes / 1e6).toFixed(0)} MB gzipped: miss after \`POST /cache/clear\` ${seconds(blog.listMissMs)} (chunks from the segments kept in Postgres), cold (kept segments dropped too, every chunk built from its rows) ${seconds(blog.coldListMs)}, hit ${seconds(blog.listHitMs)}, plain JSON hit ${seconds(blog.plainMs)}, after one write ${seconds(blog.afterWriteMs)} (${blog.afterWriteCaches.join(' ')}); the post written was in the list that followed: ${blog.found ? 'yes' : 'NO'}.`,
    '',
  ];
}

/** The bare servers the bench measures for comparison (they serve hits only). */
function isReference(server) {
  return server.startsWith('node:http') || server.startsWith('Express +') || server.startsWith('Nest route');
}

export function svg(results) {
  const rows = results.filter((row) => row.workload.startsWith('read-heavy') || row.workload.startsWith('hits only'));
  const width = 860;
  const barHeight = 22;
  const left = 330;
  const max = Math.max(...rows.map((row) => row.rps), 1);
  const bars = rows
    .map((row, index) => {
      const y = 40 + index * (barHeight + 6);
      const length = Math.max(1, Math.round(((width - left - 90) * row.rps) / max));
      const reference = isReference(row.server);
      const kind = reference ? '' : row.workload.startsWith('hits') ? 'hits only' : '95% reads';
      const label = [row.server, [row.adapter === '-' ? '' : row.adapter, kind].filter(Boolean).join(', ')]
        .filter(Boolean)
        .join(' — ');
      const color = reference ? '#888' : row.server === 'no-cache' ? '#c55' : '#36c';
      return `<text x="${left - 8}" y="${y + 16}" text-anchor="end" font-size="13">${label}</text><rect x="${left}" y="${y}" width="${length}" height="${barHeight}" fill="${color}"/><text x="${left + length + 6}" y="${y + 16}" font-size="13">${row.rps}</text>`;
    })
    .join('\n');
  const height = 60 + rows.length * (barHeight + 6);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="22" font-size="15" font-weight="bold">Reads (Zipf ${ZIPF_S} over ${USERS} users): requests/s, ${CONNECTIONS} connections; grey = references, red = no cache</text>
${bars}
</svg>
`;
}

/** The same workloads on a local Redis Cluster (3 masters, 3 replicas) and on the one Redis, in this run. */
function clusterLines(results) {
  const pairs = [
    ['cache-aside', 'hits only'],
    ['write-behind', 'writes only'],
  ];
  const lines = pairs.flatMap(([app, workload]) => {
    const single = best(results, app, 'fastify', workload);
    const cluster = best(results, `${app} on a Redis Cluster`, 'fastify', workload);
    if (!single || !cluster) return [];
    const share = ratio(cluster, single);
    return [`| ${app}, ${workload}, Fastify | ${single.rps} | ${cluster.rps} | ${(share * 100).toFixed(0)}% |`];
  });
  if (lines.length === 0) return [];
  return [
    '## On a Redis Cluster',
    '',
    'The cluster is `npm run cluster:up` on this machine: six redis-server processes sharing its cores, so this',
    'shows what the cluster client and the slot layout cost, not what more machines would give.',
    '',
    '| workload | one Redis, req/s | cluster, req/s | cluster / one |',
    '|---|---|---|---|',
    ...lines,
  ];
}

/** How the rows the ratio targets compare were measured. */
function headToHeadLine(results) {
  const measured = results.filter((row) => row.rounds !== undefined);
  if (measured.length === 0) return '';
  const rounds = Math.max(...measured.map((row) => row.rounds.length));
  return `The warm hits and the writes-only rows were measured head to head: the servers a target compares ran side by
side and were measured in turn (1 s warm-up, then ${measured[0].seconds ?? 5} s each), for ${rounds} round${rounds > 1 ? 's' : ''}, each starting one server
later; such a row is the server's median round (its "req/s by round" below the table), and a target's ratio is
the median of the rounds' ratios, so the machine's drift over minutes moves both sides alike. Every server but the blog runs with
\`--max-semi-space-size=64\` (the apps as \`npm start\` runs them, and the bare references alike).
`;
}

/** Each head-to-head row's req/s in every round. */
function roundLines(results) {
  const measured = results.filter((row) => row.rounds?.length > 1);
  if (measured.length === 0) return [];
  return [
    '### Req/s by round (head to head)',
    '',
    '| server | adapter | workload | req/s by round |',
    '|---|---|---|---|',
    ...measured.map((row) => `| ${row.server} | ${row.adapter} | ${row.workload} | ${row.rounds.join(', ')} |`),
    '',
  ];
}

export function markdown({
  results,
  details,
  machine: machineLine,
  quick: quickRun,
  rttMs,
  proxy,
  only,
  date,
  duration,
  warmup,
}) {
  const flags = [
    quickRun ? '--quick' : '',
    rttMs === undefined ? '' : `--rtt ${rttMs}`,
    only ? `--only ${only.join(',')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const far =
    rttMs === undefined
      ? ''
      : `Every server reached Postgres and Redis through the latency proxy, ${rttMs} ms of round trip away (the bench's own\nclients did not); no Redis Cluster rows (a cluster hands its clients its nodes' own addresses).${proxy === undefined ? '' : ` Measured: a PING\nthrough the proxy took ${proxy.addedMs.toFixed(2)} ms longer than one straight to Redis (it held ${proxy.holdMs.toFixed(2)} ms each way).`}\n`;
  const format = (value, digits = 0) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const table = results.map(
    (row) =>
      `| ${row.server} | ${row.adapter} | ${row.workload} | ${row.rps} | ${format(row.p50)} | ${format(row.p99)} | ${row.hitRatio === null ? '-' : format(row.hitRatio, 3)} | ${row.pgQps} | ${row.flushLagP99Ms ?? '-'} | ${row.non2xx + row.errors} |`,
  );
  return `# Benchmark results

\`npm run bench${flags ? ` -- ${flags}` : ''}\` on ${date}. Machine: ${machineLine}.
${far}
Load: autocannon, ${CONNECTIONS} connections, ${warmup} s warm-up then ${duration} s measured, in a separate process from each
server; reads pick ids from a Zipf distribution (s = ${ZIPF_S}) over ${USERS} users; writes are \`PATCH {age}\`.
Load generator, servers, Postgres and Redis all share this machine's cores, so absolute numbers are low and
ratios measured in the same run are what to compare. Postgres q/s is from \`pg_stat_database\` (transactions).
${headToHeadLine(results)}

| server | adapter | workload | req/s | p50 ms | p99 ms | hit ratio | Postgres q/s | flush lag p99 ms | non-2xx + errors |
|---|---|---|---|---|---|---|---|---|---|
${table.join('\n')}

${roundLines(results).join('\n')}
## Targets

| target | measured | goal | |
|---|---|---|---|
${targets(results, details).join('\n')}

${clusterLines(results).join('\n')}

${networkLines(details.network, details.blog).join('\n')}

${blogLines(details.blog).join('\n')}
Write-behind flush: ${details.flushRows ?? '-'} rows written in ${details.flushSeconds ?? '-'} s (${details.flushRowsPerSecond ?? '-'} rows/s), with writes held back and then flushed at once.
`;
}
