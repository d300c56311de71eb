import { RefreshAheadConfig } from '@app/common';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { HotSet } from './hot-set';
import { RecordCache } from '../../records/record-cache';

/** Accesses are counted in memory and sent in one script call this often, instead of one call per read. */
const FLUSH_EVERY_MS = 100;
/** More distinct ids than this waiting, and they are sent at once (bounds the buffer). */
const MAX_BUFFERED_IDS = 5_000;

export interface HotKey {
  id: number;
  /** Accesses, decayed to now: about how many times it was read in the last half-life or so. */
  score: number;
}

/**
 * Which ids are read often right now, in Redis (shared by every instance of the app), bounded in size. Scores
 * use forward decay (see `record-accesses-2.lua`): a key read less often sinks by itself, halving every
 * half-life.
 */
@Injectable()
export class HotKeys implements OnApplicationShutdown {
  private readonly lambda: number;
  private readonly buffered = new Map<number, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly cache: RecordCache,
    private readonly hotSet: HotSet,
    private readonly options: RefreshAheadConfig,
  ) {
    this.lambda = Math.LN2 / options.hotHalfLifeSeconds;
  }

  /** Counts one read of an existing record; sent to Redis within `FLUSH_EVERY_MS`. Never throws. */
  recordAccess(id: number): void {
    this.buffered.set(id, (this.buffered.get(id) ?? 0) + 1);
    if (this.buffered.size >= MAX_BUFFERED_IDS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS).unref();
  }

  /** Sends the buffered counts. Losing them (Redis away) is harmless: they only rank keys. */
  async flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffered.size === 0) return;
    const counts = new Map(this.buffered);
    this.buffered.clear();
    if (!this.cache.available) return;
    await this.cache.attempt(
      () => this.hotSet.add(counts, Date.now() / 1000, this.lambda, this.options.hotKeysMax),
      () => undefined,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** The hot set, hottest first, with scores decayed to now; only ids at or above the hot threshold. */
  async hottest(limit = this.options.hotKeysMax): Promise<HotKey[]> {
    await this.flush();
    const now = Date.now() / 1000;
    return (await this.hotSet.top(limit))
      .map((entry) => ({ id: entry.id, score: entry.score * Math.exp(-this.lambda * (now - entry.t0)) }))
      .filter((entry) => entry.score >= this.options.hotMinScore)
      .sort((a, b) => b.score - a.score)
      .slice(0, limit)
      .map((entry) => ({ id: entry.id, score: Math.round(entry.score * 1000) / 1000 }));
  }

  async size(): Promise<number> {
    return this.hotSet.size();
  }

  /** Stops tracking ids that no longer exist. */
  async forget(id: number): Promise<void> {
    await this.hotSet.remove(id);
  }
}
