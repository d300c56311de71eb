import { loadAppConfig } from './app-config';
import { sliceConfig } from './config-slices';

describe('sliceConfig', () => {
  it("names an app's schema and key prefix after it unless DATABASE_SCHEMA / REDIS_KEY_PREFIX say otherwise", () => {
    expect(sliceConfig('write-behind', loadAppConfig({})).identity).toEqual({
      name: 'write-behind',
      schema: 'write_behind',
      keyPrefix: 'write-behind:',
    });
    const custom = sliceConfig('blog', loadAppConfig({ DATABASE_SCHEMA: 'demo', REDIS_KEY_PREFIX: 'd:' }));
    expect(custom.identity).toMatchObject({ schema: 'demo', keyPrefix: 'd:' });
  });

  it('maps every slice from its own variables', () => {
    const slices = sliceConfig(
      'x',
      loadAppConfig({
        HTTP_ADAPTER: 'fastify',
        REDIS_WRITE_TIMEOUT_MS: '750',
        WRITE_BEHIND_ROLE: 'worker',
        BLOG_CHUNK_SIZE: '500',
      }),
    );
    expect(slices.http.adapter).toBe('fastify');
    expect(slices.cache.writeTimeoutMs).toBe(750);
    expect(slices.writeBehind.role).toBe('worker');
    expect(slices.blog.chunkSize).toBe(500);
  });
});
