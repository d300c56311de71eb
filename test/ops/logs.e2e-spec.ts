import { AppProcess } from '../support/app-process';
import { waitFor } from '../support/wait-for';

interface LogLine {
  level: string;
  message: string;
  context?: string;
  [field: string]: unknown;
}

/** The JSON lines an app printed (every line must be one). */
function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);
}

describe('logs of an app that does not write to a terminal', () => {
  let app: AppProcess | undefined;

  afterEach(async () => {
    await app?.cleanUp();
    app = undefined;
  });

  it('are JSON lines without colour codes, with a request log naming the route template and X-Cache', async () => {
    // NO_COLOR unset: the format, not the environment, keeps colour codes out of a file.
    app = await AppProcess.start('cache-aside', { LOG_REQUESTS: 'true', LOG_LEVEL: 'log', NO_COLOR: '' });
    await waitFor(() => app!.healthy(), 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${app!.logs}`);
    });
    expect((await app.fetch('/users/1'))?.status).toBe(200);
    expect((await app.fetch('/users/1'))?.status).toBe(200);
    expect((await app.fetch('/users/999999999'))?.status).toBe(404);
    await waitFor(() => Promise.resolve(app!.logs.includes('"status":404')), 10_000);

    expect(app.logs).not.toContain('\x1b[');
    const lines = jsonLines(app.logs);
    expect(lines.find((line) => line.message.includes('listening on'))).toMatchObject({ level: 'log' });
    const requests = lines.filter((line) => line.context === 'HTTP' && line.route === '/users/:id');
    expect(requests.map(({ status, xCache }) => ({ status, xCache }))).toEqual([
      { status: 200, xCache: 'MISS' },
      { status: 200, xCache: 'HIT' },
      { status: 404, xCache: null },
    ]);
    expect(requests[0]).toMatchObject({ level: 'log', method: 'GET', durationMs: expect.any(Number) });
    // The route template, never the path with its id.
    expect(app.logs).not.toContain('/users/999999999');
  }, 120_000);

  it('show each request and the decisions a pattern makes at debug level', async () => {
    app = await AppProcess.start('cache-aside', { LOG_LEVEL: 'debug', LOG_FORMAT: 'text' });
    await waitFor(() => app!.healthy(), 60_000);
    expect((await app.fetch('/users/2'))?.status).toBe(200);
    const request = /DEBUG \[HTTP\] GET \/users\/:id 200 [\d.]+ ms X-Cache: MISS/;
    await waitFor(() => Promise.resolve(request.test(app!.logs)), 10_000);
    expect(app.logs).toContain('DEBUG [CacheStrategy] user 2: miss, loaded from PostgreSQL and cached');
  }, 120_000);

  it('time each write-behind flush batch by phase at debug level', async () => {
    app = await AppProcess.start('write-behind', { LOG_LEVEL: 'debug', LOG_FORMAT: 'text' });
    await waitFor(() => app!.healthy(), 60_000);
    const email = `phases-${Date.now()}@example.com`;
    const created = await app.fetch('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Phases', email, age: 30 }),
    });
    expect(created?.status).toBe(201);
    expect((await app.fetch('/flush?wait=true', { method: 'POST' }))?.status).toBe(200);
    const batch =
      /Flushed a batch of 1 claimed: 1 written to PostgreSQL, 0 held back, 0 with no stored change; ms claiming \d+\.\d, reading \d+\.\d, writing \d+\.\d, acknowledging \d+\.\d/;
    await waitFor(() => Promise.resolve(batch.test(app!.logs)), 10_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${app!.logs.slice(-3000)}`);
    });
  }, 120_000);
});
