import { InvalidConfigError } from '../errors/invalid-config.error';
import { loadAppConfig } from './app-config';

describe('loadAppConfig', () => {
  it('defaults to local Postgres and Redis, Express, a 300 s TTL and a 100 ms Redis timeout', () => {
    const config = loadAppConfig({});
    expect(config).toMatchObject({
      DATABASE_URL: 'postgres://postgres@localhost:5432/caching_patterns',
      REDIS_URL: 'redis://localhost:6379',
      HTTP_ADAPTER: 'express',
      CACHE_TTL_SECONDS: 300,
      CACHE_TTL_JITTER: 0.1,
      REDIS_COMMAND_TIMEOUT_MS: 100,
      SWAGGER_ENABLED: true,
    });
    expect(config.PORT).toBeUndefined();
    expect(config.ADMIN_TOKEN).toBeUndefined();
  });

  it('converts numbers and booleans from their string form', () => {
    const config = loadAppConfig({
      PORT: '9000',
      CACHE_TTL_SECONDS: '60',
      CACHE_TTL_JITTER: '0.25',
      SWAGGER_ENABLED: 'false',
    });
    expect(config).toMatchObject({ PORT: 9000, CACHE_TTL_SECONDS: 60, CACHE_TTL_JITTER: 0.25, SWAGGER_ENABLED: false });
  });

  it('treats empty variables as unset', () => {
    expect(loadAppConfig({ PORT: '', ADMIN_TOKEN: '' }).ADMIN_TOKEN).toBeUndefined();
  });

  it('lists every bad variable at once', () => {
    let error: unknown;
    try {
      loadAppConfig({
        PORT: 'eighty',
        HTTP_ADAPTER: 'koa',
        DATABASE_URL: 'mysql://x',
        CACHE_TTL_SECONDS: '0',
        ADMIN_TOKEN: 'short',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    const problems = (error as InvalidConfigError).problems.join('\n');
    for (const name of ['PORT', 'HTTP_ADAPTER', 'DATABASE_URL', 'CACHE_TTL_SECONDS', 'ADMIN_TOKEN']) {
      expect(problems).toContain(`${name}=`);
    }
    expect((error as InvalidConfigError).problems).toHaveLength(5);
  });
});
