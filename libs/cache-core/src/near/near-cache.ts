import { CacheConfig } from '@app/common';
import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { CacheableRecord } from '../cache-strategy';

/**
 * What the near cache holds for an id: a value (a record, or null for "absent"), or only a floor: the lowest
 * version a value of this id may have, left by a change this instance heard of. A value older than its floor is
 * never stored, so a Redis answer that was already on its way when the change was announced cannot bring the
 * old version back.
 */
interface Slot {
  value?: CacheableRecord | null;
  version: number;
}

/** Where this instance hears of changes: Postgres's `NOTIFY` (the outbox), and write-behind's Redis channel. */
export type ChangeFeed = 'postgres' | 'redis';

/** A deletion's floor: no version of a deleted record may be cached again (ids are never reused). */
const DELETED = Number.MAX_SAFE_INTEGER;

/**
 * The in-process tier in front of Redis (`NEAR_CACHE_MAX_ENTRIES`, 0 = off): a bounded LRU
 * ([lru-cache](https://github.com/isaacs/node-lru-cache)) whose entries live `NEAR_CACHE_TTL_MS` at most. A hit
 * costs no network round trip. Kept coherent by versions: this instance drops its own entry before a write
 * answers, every other instance drops it when the change's `NOTIFY` arrives (the invalidation outbox; for
 * write-behind, also the accept script's message on Redis), and an entry older than a change heard of is never
 * stored. Used only while every such feed is live: when one is lost the near cache is emptied and stays off
 * until the feed is back and caught up, since changes made meanwhile would go unheard.
 */
@Injectable()
export class NearCache {
  private readonly slots?: LRUCache<number, Slot>;
  /** The change feeds it must hear and cannot right now (none heard at start); usable once this is empty. */
  private readonly deaf = new Set<ChangeFeed>(['postgres']);
  private counters = { hits: 0, stores: 0, drops: 0, disabled: 0 };
  private lostFeeds = 0;

  constructor(config: CacheConfig) {
    if (config.nearMaxEntries > 0) {
      this.slots = new LRUCache<number, Slot>({ max: config.nearMaxEntries, ttl: config.nearTtlMs });
    }
  }

  /** True when configured (whether or not it can be used right now). */
  get configured(): boolean {
    return this.slots !== undefined;
  }

  /** True while it may answer reads: configured, and every feed it needs is live. */
  get usable(): boolean {
    return this.deaf.size === 0 && this.slots !== undefined;
  }

  /** The cached value of `id` (a record, or null for absent); undefined when there is none. */
  get<T extends CacheableRecord>(id: number): T | null | undefined {
    if (!this.usable) return undefined;
    const slot = this.slots!.get(id);
    if (slot?.value === undefined) return undefined;
    this.counters.hits += 1;
    return slot.value as T | null;
  }

  /**
   * Changes each time a feed is lost. A reader takes it before asking Redis and hands it to {@link set}: an
   * answer asked for before a loss may predate a change nobody heard of (the floors went with the entries).
   */
  get epoch(): number {
    return this.lostFeeds;
  }

  /**
   * Keeps `value` (null: absent, as version 0) unless a newer version or a change's floor is there, or a feed
   * was lost since `epoch` (see {@link epoch}).
   */
  set<T extends CacheableRecord>(id: number, value: T | null, epoch = this.lostFeeds): void {
    if (!this.usable || epoch !== this.lostFeeds) return;
    const version = value?.version ?? 0;
    const slot = this.slots!.get(id, { updateAgeOnGet: false });
    if (slot !== undefined && slot.version > version) return;
    if (slot?.value !== undefined && slot.version === version) return;
    this.slots!.set(id, { value, version });
    this.counters.stores += 1;
  }

  /**
   * A change of `id` to `version` was committed (undefined: a deletion, or a version not known): drops an older
   * entry and leaves the version as the floor; a newer entry stays.
   */
  changed(id: number, version: number | undefined, operation?: 'I' | 'U' | 'D'): void {
    if (this.slots === undefined) return;
    const floor = version === undefined || operation === 'D' ? DELETED : version;
    const slot = this.slots.get(id, { updateAgeOnGet: false });
    if (slot !== undefined && slot.version >= floor) return;
    if (slot?.value !== undefined) this.counters.drops += 1;
    this.slots.set(id, { version: floor });
  }

  /**
   * One more feed the near cache must hear before it is used: write-behind's changes reach Postgres (and so its
   * feed) only when flushed, so that app also announces each accepted change on a Redis channel.
   */
  requireFeed(feed: ChangeFeed): void {
    this.deaf.add(feed);
    this.slots?.clear();
  }

  /** `feed` is live (and caught up): once every feed is, reads may use it. */
  enable(feed: ChangeFeed = 'postgres'): void {
    this.deaf.delete(feed);
  }

  /** `feed` is lost: what is here may go stale unheard, so it is emptied and not used until {@link enable}. */
  disable(feed: ChangeFeed = 'postgres'): void {
    if (this.deaf.size === 0) this.counters.disabled += 1;
    this.lostFeeds += 1;
    this.deaf.add(feed);
    this.slots?.clear();
  }

  /** The cache was emptied. */
  clear(): void {
    this.slots?.clear();
  }

  snapshot(): { enabled: boolean; size: number; hits: number; stores: number; drops: number; disabled: number } {
    return { enabled: this.usable, size: this.slots?.size ?? 0, ...this.counters };
  }
}
