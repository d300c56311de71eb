import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { CacheKeys } from '../../cache-keys';
import { RecordCache } from '../../redis/record-cache';
import { REFRESH_AHEAD_OPTIONS, type RefreshAheadOptions } from './refresh-ahead.options';

/**
 * Why forward decay: a key's score is the sum of e^(λ·(t − t0)) over its accesses, so the score at any
 * later time is that sum times e^(−λ·(now − t0)) for every key alike: ranking needs no per-key update, and a
 * key that stops being read sinks by itself (halving every half-life). When the exponent grows large, every
 * score is rescaled and t0 moved to now, in the same script, so nothing overflows. Trimming to the top
 * `capacity` after each increment keeps memory bounded under a flood of distinct ids.
 */
const RECORD_ACCESSES = `
local now = tonumber(ARGV[1])
local lambda = tonumber(ARGV[2])
local t0 = tonumber(redis.call('HGET', KEYS[2], 't0'))
if not t0 then
  t0 = now
  redis.call('HSET', KEYS[2], 't0', t0)
end
local exponent = (now - t0) * lambda
if exponent > 30 then
  redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', math.exp(-exponent))
  t0 = now
  redis.call('HSET', KEYS[2], 't0', t0)
  exponent = 0
end
local weight = math.exp(exponent)
for i = 4, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], weight * tonumber(ARGV[i + 1]), ARGV[i])
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1) end
return 1`;

interface HotKeyCommands {
  recordAccesses(
    hot: string,
    meta: string,
    nowSeconds: number,
    lambda: number,
    capacity: number,
    ...idsAndCounts: number[]
  ): Promise<number>;
}

/** Accesses are counted in memory and sent in one script call this often, instead of one call per read. */
const FLUSH_EVERY_MS = 100;
/** More distinct ids than this waiting, and they are sent at once (bounds the buffer). */
const MAX_BUFFERED_IDS = 5_000;

export interface HotKey {
  id: number;
  /** Accesses, decayed to now: about how many times it was read in the last half-life or so. */
  score: number;
}

/** Which ids are read often right now, in Redis (shared by every instance of the app), bounded in size. */
@Injectable()
export class HotKeys implements OnApplicationShutdown {
  private readonly lambda: number;
  private readonly hotKey: string;
  private readonly metaKey: string;
  private readonly buffered = new Map<number, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly cache: RecordCache,
    keys: CacheKeys,
    @Inject(REFRESH_AHEAD_OPTIONS) private readonly options: RefreshAheadOptions,
  ) {
    this.lambda = Math.LN2 / options.hotHalfLifeSeconds;
    this.hotKey = keys.named('hot');
    this.metaKey = keys.named('hot:meta');
    this.cache.redis.defineCommand('recordAccesses', { numberOfKeys: 2, lua: RECORD_ACCESSES });
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
    const counts = [...this.buffered].flat();
    this.buffered.clear();
    if (!this.cache.available) return;
    try {
      await (this.cache.redis as unknown as HotKeyCommands).recordAccesses(
        this.hotKey,
        this.metaKey,
        Date.now() / 1000,
        this.lambda,
        this.options.hotKeysMax,
        ...counts,
      );
    } catch (error) {
      this.cache.failed(error);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** The hot set, hottest first, with scores decayed to now; only ids at or above the hot threshold. */
  async hottest(limit = this.options.hotKeysMax): Promise<HotKey[]> {
    await this.flush();
    const [entries, t0] = await Promise.all([
      this.cache.redis.zrevrange(this.hotKey, 0, limit - 1, 'WITHSCORES'),
      this.cache.redis.hget(this.metaKey, 't0'),
    ]);
    const decay = Math.exp(-this.lambda * (Date.now() / 1000 - Number(t0 ?? Date.now() / 1000)));
    const hot: HotKey[] = [];
    for (let i = 0; i + 1 < entries.length; i += 2) {
      const score = Number(entries[i + 1]) * decay;
      if (score < this.options.hotMinScore) break;
      hot.push({ id: Number(entries[i]), score: Math.round(score * 1000) / 1000 });
    }
    return hot;
  }

  async size(): Promise<number> {
    return this.cache.redis.zcard(this.hotKey);
  }

  /** Stops tracking ids that no longer exist. */
  async forget(id: number): Promise<void> {
    await this.cache.redis.zrem(this.hotKey, String(id));
  }
}
