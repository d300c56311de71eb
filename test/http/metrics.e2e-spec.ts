import { DEFAULT_DASHBOARD_APPS } from '@app/common';
import type { PatternAppDefinition } from '@app/shell';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { AppProcess } from '../support/app-process';
import { startBlogTestApp } from '../support/blog-app';
import { freePort } from '../support/free-port';
import {
  metricNamesIn,
  parseExposition,
  promtool,
  promtoolCheckMetrics,
  type PromSample,
  valueOf,
} from '../support/prometheus';
import { type AdapterName, newUser, startTestApp, type TestApp } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/** Every sample name any app exported in this file's scrapes (for the Grafana dashboard's check). */
const EXPORTED = new Set<string>();

function parsed(text: string): PromSample[] {
  const samples = parseExposition(text);
  for (const sample of samples) EXPORTED.add(sample.name);
  return samples;
}

/** The metrics only this pattern exports, besides the shared cache and HTTP metrics. */
const PATTERN_METRICS: Record<string, string[]> = {
  'cache-aside': [],
  'read-through': ['read_through_negative_hits_total', 'read_through_absent_loads_total'],
  'write-through': ['write_through_writes_total', 'write_through_cache_write_failures_total'],
  'write-behind': [
    'write_behind_pending',
    'write_behind_oldest_pending_age_seconds',
    'write_behind_accepted_total',
    'write_behind_coalesced_total',
    'write_behind_flushed_rows_total',
    'write_behind_dead_letters',
  ],
  'refresh-ahead': [
    'refresh_ahead_refreshes_total',
    'refresh_ahead_hot_keys',
    'write_through_writes_total',
    'refresh_ahead_sweeps_total',
    'refresh_ahead_expired_hot_keys_total',
  ],
};

const CASES: [string, AdapterName, PatternAppDefinition][] = [
  [CACHE_ASIDE, 'express'] as const,
  [CACHE_ASIDE, 'fastify'] as const,
  [READ_THROUGH, 'express'] as const,
  [WRITE_THROUGH, 'fastify'] as const,
  [WRITE_BEHIND, 'express'] as const,
  [REFRESH_AHEAD, 'express'] as const,
].map(([definition, adapter]) => [definition.name, adapter, definition]);

async function scrape(t: { http(): ReturnType<TestApp['http']> }): Promise<{ text: string; samples: PromSample[] }> {
  const response = await t.http().get('/metrics').expect(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: response.text, samples: parsed(response.text) };
}

/** No label of any sample holds a record's id or a user's email: ids become route templates. */
function expectNoIdsOrEmails(samples: PromSample[], id: number, email: string): void {
  for (const sample of samples) {
    for (const [label, value] of Object.entries(sample.labels)) {
      expect(value.includes('@') || value === email ? `${sample.name}{${label}="${value}"}` : '').toBe('');
      if (label === 'uri') expect(value).not.toMatch(new RegExp(`(^|/)${id}(/|$)`));
    }
  }
}

describe.each(CASES)('GET /metrics on %s (%s)', (_name, adapter, definition) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(definition, { adapter });
  });

  afterAll(async () => {
    await t.close();
  });

  it('is valid for promtool, follows Micrometer names, and counts what /stats counts', async () => {
    const user = newUser();
    const created = await t.http().post('/users').send(user).expect(201);
    const id = created.body.id as number;
    await t.http().get(`/users/${id}`).expect(200);
    await t.http().get(`/users/${id}`).expect(200);
    await t
      .http()
      .get(`/users/${id + 1_000_000}`)
      .expect(404);
    await t.http().get('/no-such-route').expect(404);

    const { text, samples } = await scrape(t);
    const lint = promtoolCheckMetrics(text);
    expect(lint).toEqual({ status: 0, output: '' });

    const stats = await t.stats();
    for (const result of ['hit', 'miss', 'bypass'] as const) {
      const fromStats = { hit: stats.hits, miss: stats.misses, bypass: stats.bypasses }[result];
      expect(valueOf(samples, 'cache_gets_total', { cache: 'users', result })).toBe(fromStats);
    }
    expect(valueOf(samples, 'cache_gets_total', { cache: 'users' })).toBeGreaterThanOrEqual(3);
    expect(valueOf(samples, 'cache_puts_total', { cache: 'users' })).toBe(stats.cacheWrites);
    expect(valueOf(samples, 'cache_database_reads_total', { cache: 'users' })).toBe(stats.dbReads);

    const reads = { method: 'GET', uri: '/users/:id', application: definition.name };
    expect(valueOf(samples, 'http_server_requests_seconds_count', { ...reads, status: '200' })).toBe(2);
    expect(valueOf(samples, 'http_server_requests_seconds_count', { ...reads, status: '404' })).toBe(1);
    expect(
      valueOf(samples, 'http_server_requests_seconds_count', { method: 'GET', uri: 'NOT_FOUND', status: '404' }),
    ).toBe(1);
    expect(
      valueOf(samples, 'http_server_requests_seconds_count', { method: 'POST', uri: '/users', outcome: 'SUCCESS' }),
    ).toBe(1);
    expect(valueOf(samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    const names = new Set(samples.map((sample) => sample.name));
    for (const name of PATTERN_METRICS[definition.pattern]!) expect([...names]).toContain(name);
    expectNoIdsOrEmails(samples, id, user.email);
  });

  it('moves with traffic: a second scrape shows the new hits and requests', async () => {
    const before = (await scrape(t)).samples;
    const created = await t.http().post('/users').send(newUser()).expect(201);
    for (let i = 0; i < 5; i += 1) await t.http().get(`/users/${created.body.id}`).expect(200);
    const after = (await scrape(t)).samples;
    const moved = (name: string, labels: Record<string, string> = {}): number =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    // No cache command failed on the way (a failure turns a hit into a bypass), and every read after the first hit.
    expect(moved('cache_errors_total')).toBe(0);
    expect(moved('cache_gets_total', { result: 'hit' })).toBeGreaterThanOrEqual(4);
    const served = (s: PromSample[]): number =>
      valueOf(s, 'http_server_requests_seconds_count', { uri: '/users/:id', status: '200' });
    expect(served(after) - served(before)).toBe(5);
  });
});

describe('GET /metrics on the blog', () => {
  it('exports the posts cache and the list, valid for promtool', async () => {
    const blog = await startBlogTestApp();
    try {
      await blog.http().get('/posts/1').expect(200);
      await blog.http().get('/posts/1').expect(200);
      const list = await blog.http().get('/posts').set('Accept-Encoding', 'identity').expect(200);
      const { text, samples } = await scrape(blog);
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: '' });
      const stats = (await blog.http().get('/stats').expect(200)).body;
      expect(valueOf(samples, 'cache_gets_total', { cache: 'posts', result: 'hit' })).toBe(stats.hits);
      expect(valueOf(samples, 'blog_list_chunks_total', { result: 'built' })).toBe(stats.list.chunksBuilt);
      expect(valueOf(samples, 'blog_list_chunks_total', { result: 'hit' })).toBe(stats.list.chunksFromCache);
      expect(valueOf(samples, 'blog_list_requests_total')).toBe(1);
      expect(valueOf(samples, 'blog_list_bytes_sent_total')).toBe(Buffer.byteLength(list.text));
      expect(valueOf(samples, 'http_server_requests_seconds_count', { uri: '/posts/:id', status: '200' })).toBe(2);
    } finally {
      await blog.close();
    }
  });
});

describe('the write-behind worker role', () => {
  let worker: AppProcess | undefined;

  afterAll(async () => {
    await worker?.cleanUp();
  });

  it('has no HTTP API but serves /metrics on METRICS_PORT', async () => {
    const metricsPort = await freePort();
    worker = await AppProcess.start('write-behind', {
      WRITE_BEHIND_ROLE: 'worker',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'log',
    });
    let text = '';
    await waitFor(async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => null);
      if (response?.status !== 200) return false;
      text = await response.text();
      return true;
    }, 30_000);
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: '' });
    const samples = parsed(text);
    expect(valueOf(samples, 'write_behind_pending', { application: 'write-behind' })).toBe(0);
    expect(valueOf(samples, 'write_behind_flushed_rows_total')).toBe(0);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/users/1`)).status).toBe(404);
    expect(await worker.fetch('/users/1')).toBeNull();
    expect(worker.logs).toContain(`metrics at http://127.0.0.1:${metricsPort}/metrics`);
  });
});

describe('the Prometheus and Grafana files of docker-compose.yml', () => {
  const dashboard = JSON.parse(readFileSync('docker/grafana/dashboards/caching-patterns.json', 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, ...target })));

  it('scrape every app: promtool accepts the Prometheus configuration', () => {
    expect(promtool('check', 'config', 'docker/prometheus/prometheus.yml').status).toBe(0);
    const config = readFileSync('docker/prometheus/prometheus.yml', 'utf8');
    for (const [app, port] of Object.entries(DEFAULT_DASHBOARD_APPS).map(([name, url]) => [name, new URL(url).port]))
      expect(config).toContain(`${app}:${port}`);
    expect(config).toContain('blog:8000');
    expect(config).toMatch(/names: \[write-behind-worker\]\s+type: A\s+port: 9464/);
  });

  it("Grafana's dashboard queries are valid PromQL and read only metric names the apps export", () => {
    expect(exprs.length).toBeGreaterThan(10);
    const rules = {
      groups: [{ name: 'dashboard', rules: exprs.map(({ expr }, i) => ({ record: `dashboard:q${i}`, expr })) }],
    };
    const file = join(mkdtempSync(join(tmpdir(), 'grafana-')), 'rules.yml');
    writeFileSync(file, JSON.stringify(rules));
    expect(promtool('check', 'rules', file)).toMatchObject({ status: 0 });
    // The scrapes above ran first in this file (Jest runs a file's tests in order): every app's names are known.
    expect(EXPORTED.size).toBeGreaterThan(50);
    const unknown = exprs.flatMap(({ panel, expr }) =>
      metricNamesIn(expr)
        .filter((name) => !EXPORTED.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });
});
