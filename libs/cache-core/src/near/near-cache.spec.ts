import type { CacheConfig } from '@app/common';
import { NearCache } from './near-cache';

const user = (id: number, version: number): { id: number; version: number; name: string } => ({
  id,
  version,
  name: `v${version}`,
});

function nearCache(maxEntries = 100): NearCache {
  const near = new NearCache({ nearMaxEntries: maxEntries, nearTtlMs: 60_000 } as CacheConfig);
  near.enable();
  return near;
}

describe('NearCache', () => {
  it('is off with no entries configured, and unusable until enabled', () => {
    const off = new NearCache({ nearMaxEntries: 0, nearTtlMs: 1000 } as CacheConfig);
    off.enable();
    off.set(1, user(1, 1));
    expect(off.get(1)).toBeUndefined();
    const idle = new NearCache({ nearMaxEntries: 10, nearTtlMs: 1000 } as CacheConfig);
    idle.set(1, user(1, 1));
    expect(idle.get(1)).toBeUndefined();
  });

  it('keeps a value, and a newer one replaces it, never an older one', () => {
    const near = nearCache();
    near.set(1, user(1, 2));
    expect(near.get(1)).toEqual(user(1, 2));
    near.set(1, user(1, 1));
    expect(near.get(1)).toEqual(user(1, 2));
    near.set(1, user(1, 3));
    expect(near.get(1)).toEqual(user(1, 3));
  });

  it('drops an entry older than a change, and refuses that older version afterwards (a late Redis answer)', () => {
    const near = nearCache();
    near.set(1, user(1, 1));
    near.changed(1, 2, 'U');
    expect(near.get(1)).toBeUndefined();
    near.set(1, user(1, 1));
    expect(near.get(1)).toBeUndefined();
    near.set(1, user(1, 2));
    expect(near.get(1)).toEqual(user(1, 2));
  });

  it('keeps an entry that is already as new as a late change, or newer', () => {
    const near = nearCache();
    near.set(1, user(1, 3));
    near.changed(1, 2, 'U');
    near.changed(1, 3, 'U');
    expect(near.get(1)).toEqual(user(1, 3));
  });

  it('never caches a deleted record again, and drops cached absence when the record is created', () => {
    const near = nearCache();
    near.set(1, user(1, 4));
    near.changed(1, 5, 'D');
    near.set(1, user(1, 4));
    near.set(1, null);
    expect(near.get(1)).toBeUndefined();
    near.set(2, null);
    expect(near.get(2)).toBeNull();
    near.changed(2, 1, 'I');
    expect(near.get(2)).toBeUndefined();
  });

  it('is emptied and unused while disabled (the feed is lost), and starts empty when enabled again', () => {
    const near = nearCache();
    near.set(1, user(1, 1));
    near.disable();
    expect(near.get(1)).toBeUndefined();
    near.set(1, user(1, 1));
    near.enable();
    expect(near.get(1)).toBeUndefined();
    expect(near.snapshot()).toMatchObject({ enabled: true, size: 0, disabled: 1 });
  });

  it('is used only while every feed it requires is live (write-behind adds its Redis channel)', () => {
    const near = nearCache();
    near.requireFeed('redis');
    near.set(1, user(1, 1));
    expect(near.usable).toBe(false);
    near.enable('redis');
    near.set(1, user(1, 1));
    expect(near.get(1)).toEqual(user(1, 1));
    near.disable('redis');
    expect(near.snapshot()).toMatchObject({ enabled: false, size: 0, disabled: 1 });
    near.disable('postgres');
    near.enable('redis');
    expect(near.usable).toBe(false);
    near.enable('postgres');
    expect(near.usable).toBe(true);
    expect(near.snapshot().disabled).toBe(1);
  });

  it('refuses a Redis answer asked for before a feed was lost, even once the feed is back', () => {
    const near = nearCache();
    const asked = near.epoch;
    near.disable();
    near.enable();
    near.set(1, user(1, 1), asked);
    expect(near.get(1)).toBeUndefined();
    near.set(1, user(1, 1), near.epoch);
    expect(near.get(1)).toEqual(user(1, 1));
  });

  it('holds at most the configured number of entries', () => {
    const near = nearCache(3);
    for (let id = 1; id <= 10; id += 1) near.set(id, user(id, 1));
    expect(near.snapshot().size).toBe(3);
    expect(near.get(10)).toEqual(user(10, 1));
    expect(near.get(1)).toBeUndefined();
  });
});
