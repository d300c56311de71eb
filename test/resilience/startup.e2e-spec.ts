import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { DIRECT_DATABASE_URL } from '../support/tcp-proxy';
import { newUser, startTestApp, uniqueName } from '../support/test-app';

describe('starting an app', () => {
  it('stops with exit code 1 and lists every bad environment variable', () => {
    const main = join(process.cwd(), 'dist', 'apps', 'cache-aside', 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm run test:e2e does)`);
    const run = spawnSync(process.execPath, [main], {
      env: { ...process.env, PORT: 'eighty', HTTP_ADAPTER: 'koa', CACHE_TTL_SECONDS: '-5' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/Invalid configuration/);
    for (const name of ['PORT="eighty"', 'HTTP_ADAPTER="koa"', 'CACHE_TTL_SECONDS="-5"'])
      expect(run.stderr).toContain(name);
    expect(run.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('creates the database when it does not exist, then migrates and seeds it', async () => {
    const database = uniqueName('db');
    const url = new URL(DIRECT_DATABASE_URL);
    url.pathname = `/${database}`;
    const t = await startTestApp(CACHE_ASIDE, { env: { DATABASE_URL: url.toString() } });
    try {
      expect((await t.db.query('SELECT count(*)::int AS users FROM users')).rows).toEqual([{ users: 5 }]);
      await t.http().post('/users').send(newUser()).expect(201);
    } finally {
      await t.close();
      const admin = new Client({ connectionString: DIRECT_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
