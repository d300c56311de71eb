import { CacheKeys } from './cache-keys';

describe('CacheKeys', () => {
  const keys = new CacheKeys('cache-aside:', 'user');

  it('puts an entry, its lease and its tombstone in one hash slot under the app prefix', () => {
    expect(keys.entry(42)).toBe('cache-aside:{user:42}');
    expect(keys.lease(42)).toBe('cache-aside:{user:42}:lease');
    expect(keys.tombstone(42)).toBe('cache-aside:{user:42}:deleted');
  });

  it('matches only this prefix, with glob characters escaped', () => {
    expect(keys.everything()).toBe('cache-aside:*');
    expect(new CacheKeys('a*b?[c]:', 'user').everything()).toBe('a\\*b\\?\\[c\\]:*');
  });
});
