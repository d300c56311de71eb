import { loadAppConfig } from '@app/common';
import { createApp } from '@app/shell';
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { DASHBOARD } from '../../apps/dashboard/src/app.module';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { entryKey, newUser, startTestApp, type TestApp } from '../support/test-app';

/** Debian's Chromium (`.ci/run` installs it); Playwright's own browser downloads are never used. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Headless, and without the background traffic a closed network refuses (updates, sync, safe browsing). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
];
const PATTERNS = [CACHE_ASIDE, READ_THROUGH, WRITE_THROUGH, WRITE_BEHIND, REFRESH_AHEAD];
/** The page updates once a second; the machine may be busy. */
const UI_TIMEOUT_MS = 20_000;

function urlOf(app: INestApplication): string {
  return `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
}

describe('the dashboard, in Chromium', () => {
  const apps = new Map<string, TestApp>();
  let dashboard: INestApplication;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const panel = (name: string): Locator => page.locator(`section.panel[data-app="${name}"]`);
  const metric = (name: string, field: string): Locator => panel(name).locator(`[data-metric="${field}"]`);
  const numberIn = async (locator: Locator): Promise<number> =>
    Number(((await locator.textContent()) ?? '').split(' ')[0]!.replace(/,/g, ''));

  beforeAll(async () => {
    for (const definition of PATTERNS) {
      const t = await startTestApp(definition);
      await t.app.listen(0, '127.0.0.1');
      apps.set(definition.name, t);
    }
    const config = loadAppConfig({
      ...process.env,
      LOG_LEVEL: 'error',
      ADMIN_OPEN: 'true',
      DASHBOARD_APPS: [...apps].map(([name, t]) => `${name}=${urlOf(t.app)}`).join(','),
    });
    dashboard = await createApp(DASHBOARD, config);
    await dashboard.listen(0, '127.0.0.1');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(urlOf(dashboard));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    for (const t of apps.values()) await t.close();
  });

  it('shows the five patterns side by side, each up, with headings and labelled controls', async () => {
    await expectPanelCount(page, 5);
    for (const name of apps.keys()) {
      await expectAttribute(panel(name), 'data-status', 'up');
      expect(await page.getByRole('heading', { name, exact: true }).count()).toBe(1);
      expect(await page.getByRole('button', { name: `Clear the cache of ${name}` }).count()).toBe(1);
      expect(await page.getByRole('progressbar', { name: `Load against ${name}` }).count()).toBe(1);
    }
    expect(await page.getByRole('heading', { name: 'Caching patterns, live' }).count()).toBe(1);
    expect(await page.getByLabel(/Admin token/).count()).toBe(1);
    // Write-behind's cache holds changes Postgres does not have: it has no clear, and shows its queue instead.
    expect(await panel('write-behind').locator('[data-action="clear"]').isDisabled()).toBe(true);
    expect(await metric('write-behind', 'pending').isVisible()).toBe(true);
    expect(await metric('cache-aside', 'pending').isVisible()).toBe(false);
    expect(await metric('refresh-ahead', 'hotKeys').isVisible()).toBe(true);
  });

  it('charts the last bench from the app itself (no CDN)', async () => {
    await waitUntil(async () => ((await page.locator('#bench-note').textContent()) ?? '').includes('run of'));
    const drawn = await page.evaluate(() => {
      const chart = (globalThis as unknown as { Chart: { getChart(id: string): { data: { labels: unknown[] } } } })
        .Chart;
      return chart.getChart('bench-chart')?.data.labels.length ?? 0;
    });
    expect(drawn).toBeGreaterThan(4);
  });

  it("moves with traffic: reads sent to an app show in its panel's counters", async () => {
    const t = apps.get('cache-aside')!;
    const created = await t.http().post('/users').send(newUser()).expect(201);
    await waitUntil(async () => (await metric('cache-aside', 'reads').textContent()) !== '–');
    const before = await numberIn(metric('cache-aside', 'reads'));
    for (let i = 0; i < 25; i += 1) await t.http().get(`/users/${created.body.id}`).expect(200);
    await waitUntil(async () => (await numberIn(metric('cache-aside', 'reads'))) >= before + 25);
    const ratio = (await metric('cache-aside', 'hitRatio').textContent()) ?? '';
    expect(ratio).toMatch(/^\d+\.\d %$/);
    // Postgres answers: no grace copy was needed.
    expect(await metric('cache-aside', 'staleReadsPerSec').textContent()).toBe('0');
    // No read replicas configured: nothing to show there.
    expect(await metric('cache-aside', 'replicaShare').textContent()).toBe('–');
  });

  it('runs a load against one pattern from its button, with progress, and the app counts the requests', async () => {
    const t = apps.get('read-through')!;
    const readsBefore = (await t.stats()).reads;
    await page.getByRole('button', { name: 'Run a 10 second load against read-through' }).click();
    await expectAttribute(panel('read-through'), 'data-load', 'running');
    expect(await panel('read-through').locator('[data-action="load"]').isDisabled()).toBe(true);
    await waitUntil(async () => Number(await panel('read-through').locator('progress').getAttribute('value')) > 0);
    await expectAttribute(panel('read-through'), 'data-load', 'done', 40_000);
    expect(await panel('read-through').locator('progress').getAttribute('value')).toBe('100');
    const text = (await panel('read-through').locator('.load-text').textContent()) ?? '';
    const [, requests, errors] = /done: ([\d,]+) requests, (\d+) errors/.exec(text) ?? [];
    expect(Number(requests?.replace(/,/g, ''))).toBeGreaterThan(50);
    expect(errors).toBe('0');
    expect((await t.stats()).reads - readsBefore).toBeGreaterThan(40);
    await waitUntil(async () => (await numberIn(metric('read-through', 'requestsPerSec'))) === 0);
  }, 90_000);

  it('clears a cache from its button: the entry leaves Redis and the next read is a MISS', async () => {
    const t = apps.get('write-through')!;
    const created = await t.http().post('/users').send(newUser()).expect(201);
    const id = created.body.id as number;
    await t.http().get(`/users/${id}`).expect(200);
    expect((await t.http().get(`/users/${id}`).expect(200)).headers['x-cache']).toBe('HIT');
    expect(await t.redis.exists(entryKey(t, id))).toBe(1);

    await page.getByRole('button', { name: 'Clear the cache of write-through' }).click();
    await waitUntil(
      async () =>
        (await panel('write-through').locator('.message').textContent()) === 'Cache cleared: the next reads are misses',
    );

    expect(await t.redis.exists(entryKey(t, id))).toBe(0);
    expect((await t.http().get(`/users/${id}`).expect(200)).headers['x-cache']).toBe('MISS');
  });

  it('shows an app that goes down as down, and its load button disabled', async () => {
    const t = apps.get('refresh-ahead')!;
    await expectAttribute(panel('refresh-ahead'), 'data-status', 'up');
    // Its HTTP server stops answering (the whole app closes in afterAll, with its schema and keys).
    const server = t.app.getHttpServer() as Server;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await expectAttribute(panel('refresh-ahead'), 'data-status', 'down');
    expect(await panel('refresh-ahead').locator('.status').textContent()).toBe('down');
    expect(await panel('refresh-ahead').locator('[data-action="load"]').isDisabled()).toBe(true);
    expect(await metric('refresh-ahead', 'hitRatio').textContent()).toBe('–');
    await expectAttribute(panel('cache-aside'), 'data-status', 'up');

    const screenshot = process.env.DASHBOARD_SCREENSHOT;
    if (screenshot !== undefined) {
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
    }
    expect(pageErrors).toEqual([]);
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function expectAttribute(
  locator: Locator,
  name: string,
  value: string,
  timeoutMs = UI_TIMEOUT_MS,
): Promise<void> {
  try {
    await waitUntil(async () => (await locator.getAttribute(name)) === value, timeoutMs);
  } catch {
    expect(`${name}=${await locator.getAttribute(name)}`).toBe(`${name}=${value}`);
  }
}

async function expectPanelCount(page: Page, count: number): Promise<void> {
  await waitUntil(async () => (await page.locator('section.panel').count()) === count);
  expect(await page.locator('section.panel').count()).toBe(count);
}
