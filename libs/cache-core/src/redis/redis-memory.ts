import { CacheConfig } from '@app/common';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Cluster, type Redis } from 'ioredis';
import { RedisConnections } from './redis-connections';

/** What `INFO memory` (and `evicted_keys` from `INFO stats`) says of one Redis, or of the worst master of a cluster. */
export interface RedisMemoryState {
  /** `maxmemory-policy`: the policy of any master that may evict keys without a TTL, else the first one's. */
  policy: string;
  /** `maxmemory` in bytes; 0 when no master has a limit (the smallest limit set otherwise). */
  maxmemory: number;
  /** The highest used share of `maxmemory` over the masters (memory Redis counts for eviction); 0 with no limit. */
  usedRatio: number;
  /** Keys evicted since each master started, added up. */
  evictedKeys: number;
  checkedAt: number;
}

/** Policies that may evict a key that has no TTL: write-behind's unflushed rows and change log are such keys. */
export function evictsKeysWithoutTtl(policy: string): boolean {
  return policy.startsWith('allkeys-');
}

/** The fields of an `INFO` answer (`name:value` lines). */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** One master's state, from its `INFO memory` and `INFO stats` sections. */
export function memoryStateOf(info: Map<string, string>, now: number): RedisMemoryState {
  const number = (name: string): number => Number(info.get(name) ?? 0) || 0;
  const maxmemory = number('maxmemory');
  // Redis compares this, not used_memory, with maxmemory when it evicts or answers OOM.
  const counted = number('used_memory') - number('mem_not_counted_for_evict');
  return {
    policy: info.get('maxmemory_policy') ?? 'unknown',
    maxmemory,
    usedRatio: maxmemory > 0 ? Math.max(0, counted) / maxmemory : 0,
    evictedKeys: number('evicted_keys'),
    checkedAt: now,
  };
}

/** The masters' states as one: the riskiest policy, the tightest limit, the fullest master. */
export function combineStates(states: RedisMemoryState[], now: number): RedisMemoryState {
  const limited = states.filter((state) => state.maxmemory > 0);
  return {
    policy: (states.find((state) => evictsKeysWithoutTtl(state.policy)) ?? states[0])?.policy ?? 'unknown',
    maxmemory: limited.length === 0 ? 0 : Math.min(...limited.map((state) => state.maxmemory)),
    usedRatio: Math.max(0, ...states.map((state) => state.usedRatio)),
    evictedKeys: states.reduce((sum, state) => sum + state.evictedKeys, 0),
    checkedAt: now,
  };
}

/**
 * Reads Redis's memory settings and usage, so the app knows what Redis may do to its keys: at start, after each
 * reconnect, and every `REDIS_MEMORY_CHECK_MS` (a policy can be changed at runtime). `INFO` is used rather than
 * `CONFIG GET`, which managed Redis services often disable. On a cluster every master is read. Nothing waits for
 * it: until the first answer `state` is undefined, and a failed read keeps the last state.
 */
@Injectable()
export class RedisMemory implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('RedisMemory');
  private timer?: NodeJS.Timeout;
  private current?: RedisMemoryState;
  private checking?: Promise<RedisMemoryState | undefined>;
  private readonly listeners: ((state: RedisMemoryState) => void)[] = [];

  constructor(
    private readonly connections: RedisConnections,
    private readonly config: CacheConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.connections.onReady(() => void this.check());
    void this.check();
    this.timer = setInterval(() => void this.check(), this.config.memoryCheckMs).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** The last state read, if any was. */
  get state(): RedisMemoryState | undefined {
    return this.current;
  }

  /** What most likely made keys without a TTL vanish, from what Redis says of its memory. */
  lossCause(): string {
    const state = this.current;
    if (state !== undefined && evictsKeysWithoutTtl(state.policy)) {
      return `Redis's maxmemory-policy is ${state.policy}, which evicts keys without a TTL (evicted_keys ${state.evictedKeys})`;
    }
    return 'the Redis data was deleted or flushed, or a failover promoted a replica that lacked them';
  }

  /** Called after every successful check, and at once with the last state if there is one. */
  onCheck(listener: (state: RedisMemoryState) => void): void {
    this.listeners.push(listener);
    if (this.current !== undefined) listener(this.current);
  }

  /** Reads every master now (one read at a time: callers during a read share it). */
  check(): Promise<RedisMemoryState | undefined> {
    this.checking ??= this.read().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async read(): Promise<RedisMemoryState | undefined> {
    const writer = this.connections.writer;
    if (writer.status !== 'ready') return this.current;
    const masters: Redis[] = writer instanceof Cluster ? writer.nodes('master') : [writer];
    let states: RedisMemoryState[];
    try {
      const now = Date.now();
      states = await Promise.all(
        masters.map(async (master) => {
          const [memory, stats] = await Promise.all([master.info('memory'), master.info('stats')]);
          return memoryStateOf(parseInfo(`${memory}\n${stats}`), now);
        }),
      );
    } catch (error) {
      this.logger.debug(`Redis memory not read: ${(error as Error).message}`);
      return this.current;
    }
    if (states.length === 0) return this.current;
    const state = combineStates(states, Date.now());
    if (this.current?.policy !== state.policy || this.current.maxmemory !== state.maxmemory) {
      const limit = state.maxmemory === 0 ? 'no maxmemory' : `maxmemory ${state.maxmemory} bytes`;
      // Redis's defaults (no limit, noeviction) need no one's attention at start; a limit or a change does.
      const notable = this.current !== undefined || state.maxmemory !== 0 || state.policy !== 'noeviction';
      this.logger[notable ? 'log' : 'debug'](`Redis memory: ${limit}, maxmemory-policy ${state.policy}`);
    }
    this.current = state;
    for (const listener of this.listeners) listener(state);
    return state;
  }
}
