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
    0.8,
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
  return lines;
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

export function markdown({ results, details, machine: machineLine, quick: quickRun, date, duration, warmup }) {
  const format = (value, digits = 0) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const table = results.map(
    (row) =>
      `| ${row.server} | ${row.adapter} | ${row.workload} | ${row.rps} | ${format(row.p50)} | ${format(row.p99)} | ${row.hitRatio === null ? '-' : format(row.hitRatio, 3)} | ${row.pgQps} | ${row.flushLagP99Ms ?? '-'} | ${row.non2xx + row.errors} |`,
  );
  return `# Benchmark results

\`npm run bench${quickRun ? ' -- --quick' : ''}\` on ${date}. Machine: ${machineLine}.
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

${blogLines(details.blog).join('\n')}
Write-behind flush: ${details.flushRows ?? '-'} rows written in ${details.flushSeconds ?? '-'} s (${details.flushRowsPerSecond ?? '-'} rows/s), with writes held back and then flushed at once.
`;
}
