import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { RedisConnections } from './redis-connections';

/** A value's dependency: a generation key and the token it had when the value was built. */
export type Dependency = [generationKey: string, token: string];

/**
 * Values built from many rows (the blog's list chunks and pages), guarded by generation tokens: a builder reads
 * the tokens of what it depends on before it queries, and its result is stored only if none moved; a write
 * moves the tokens of what it touched (see `read-generations.lua`). Reads throw when Redis fails; the methods
 * that only lose a fill (`tokens`, `fillIfCurrent`) count the failure and carry on.
 */
@Injectable()
export class GenerationCache {
  constructor(private readonly redis: RedisConnections) {}

  get available(): boolean {
    return this.redis.available;
  }

  /** See `RedisConnections.attempt`: a call that degrades to `fallback` when Redis fails. */
  attempt<R, F = R>(call: () => Promise<R>, fallback: (error: unknown) => F | Promise<F>): Promise<R | F> {
    return this.redis.attempt(call, fallback);
  }

  get(key: string): Promise<string | null> {
    return this.redis.reader.get(key);
  }

  getBuffer(key: string): Promise<Buffer | null> {
    return this.redis.reader.getBuffer(key);
  }

  /** The value at `key` with its remaining TTL in ms (-2: no value, -1: no TTL), in one round trip. */
  async withTtl(key: string): Promise<{ value: Buffer | null; ttlMs: number }> {
    const [ttlMs, value] = await this.redis.reader.entryWithTtlBuffer(key);
    return { value, ttlMs };
  }

  /** The remaining TTL of each of `keys` in ms (-2: absent, -1: no TTL), in one pipelined round trip. */
  async remaining(keys: string[]): Promise<number[]> {
    const pipeline = this.redis.reader.pipeline();
    for (const key of keys) pipeline.pttl(key);
    const results = (await pipeline.exec()) ?? [];
    return keys.map((_, index) => {
      const [error, ttlMs] = results[index] ?? [new Error('no reply'), -2];
      if (error) throw error;
      return ttlMs as number;
    });
  }

  mget(keys: string[]): Promise<(string | null)[]> {
    return this.redis.reader.mget(...keys);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.redis.reader.exists(key)) === 1;
  }

  /** The current tokens of `generationKeys` (creating missing ones), or null when Redis is away. */
  tokens(generationKeys: string[]): Promise<string[] | null> {
    return this.attempt(
      () => this.redis.reader.readGenerations(generationKeys.length, ...generationKeys, freshToken()),
      () => null,
    );
  }

  /** Stores `value` at `key` for `ttlMs` if every dependency still has its token; a failure only loses the fill. */
  async fillIfCurrent(key: string, value: string | Buffer, ttlMs: number, dependencies: Dependency[]): Promise<void> {
    await this.attempt(
      () =>
        this.redis.reader.fillIfCurrent(
          dependencies.length + 1,
          key,
          ...dependencies.map(([generation]) => generation),
          value,
          ttlMs,
          ...dependencies.map(([, token]) => token),
        ),
      () => undefined,
    );
  }

  /** Moves each generation on and drops its data: `pairs` of (generation key, data key). Throws when Redis fails. */
  async invalidate(pairs: [generationKey: string, dataKey: string][]): Promise<void> {
    const keys = pairs.flat();
    await this.redis.reader.invalidateGenerations(keys.length, ...keys, freshToken());
  }
}

function freshToken(): string {
  return randomBytes(8).toString('hex');
}
