import { AppIdentity, CacheConfig, CacheUnavailableError } from '@app/common';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  circuitBreaker,
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  isBrokenCircuitError,
} from 'cockatiel';
import { Cluster, Redis } from 'ioredis';
import { CacheStats } from '../stats/cache-stats';
import { coalesceWrites } from './coalesced-writes';
import { defineScripts, type RedisClient, type ScriptedRedis } from './redis-scripts';
import { tolerateEventLoopStalls } from './stall-tolerant-timeout';

/**
 * The write connection's commands that are never auto-pipelined: write-behind's read (`RecordCache.latest`) and
 * its compare-and-set (`ChangeLog.accept`), whose window a pipeline's wait would widen (see `connect`).
 */
const COMPARE_AND_SET = ['mget', 'wbAccept'];

/** How long a connection attempt may take, and how long start waits for Redis. */
const CONNECT_TIMEOUT_MS = 2_000;

/**
 * The 503 for a write whose Redis command failed. Nothing was sent when the client refused it up front
 * (disconnected, no offline queue), and nothing was written when Redis refused it for memory (OOM: a script is
 * refused before its first write); after a timeout or a connection lost in flight, the script may have run.
 */
export function cacheWriteFailure(error: unknown): CacheUnavailableError {
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith('OOM ')) {
    return new CacheUnavailableError(
      'Redis is out of memory (maxmemory): the write cannot be made durable',
      'not-applied',
    );
  }
  return /isn't writeable|not ready|enableOfflineQueue/i.test(message)
    ? new CacheUnavailableError(undefined, 'not-applied')
    : new CacheUnavailableError('Cache did not answer in time', 'unknown');
}

/**
 * The app's two Redis connections, built to fail fast: every command has a timeout, nothing queues while
 * disconnected, and scripts are defined on both. `reader` serves the read path (short timeout, behind a circuit
 * breaker); `writer` the write path (longer timeout, its own connection so a burst of writes never queues in
 * front of reads). Only the classes of this Redis layer use them; BullMQ has its own.
 */
@Injectable()
export class RedisConnections implements OnModuleInit, OnApplicationShutdown {
  readonly reader: ScriptedRedis;
  readonly writer: ScriptedRedis;
  private readonly logger = new Logger('Redis');
  private outage = false;
  private readonly recovered: (() => void)[] = [];
  /** Reads skip Redis for a while after consecutive failures (see {@link readBreaker}); undefined when off. */
  private readonly breaker?: CircuitBreakerPolicy;

  constructor(
    private readonly config: CacheConfig,
    identity: AppIdentity,
    private readonly stats: CacheStats,
  ) {
    tolerateEventLoopStalls();
    this.reader = this.connect(`${identity.keyPrefix}cache`, config.commandTimeoutMs);
    this.writer = this.connect(`${identity.keyPrefix}cache-writer`, config.writeTimeoutMs, COMPARE_AND_SET);
    this.breaker = this.readBreaker(config.breakerFailures);
    this.reader.on('ready', () => {
      if (this.outage) this.logger.log('Redis is back');
      this.outage = false;
      for (const listener of this.recovered) listener();
    });
  }

  /** True when the read client is connected and ready; commands are not even tried otherwise. */
  get available(): boolean {
    return this.reader.status === 'ready';
  }

  /** The same for the write-path client. */
  get writable(): boolean {
    return this.writer.status === 'ready';
  }

  /** Calls `listener` each time the read connection is ready again (after start, or after an outage). */
  onReady(listener: () => void): void {
    this.recovered.push(listener);
  }

  /** Runs a read-path command through the breaker, when there is one. */
  read<R>(command: (redis: ScriptedRedis) => Promise<R>): Promise<R> {
    return this.breaker === undefined ? command(this.reader) : this.breaker.execute(() => command(this.reader));
  }

  /** Counts a failed cache command; the caller degrades to Postgres. A read skipped by the breaker is not one. */
  failed(error: unknown): void {
    if (isBrokenCircuitError(error)) return;
    this.stats.countError();
    // A full Redis answers: that is no outage (write-behind's admission says why writes are refused).
    if (/^(OOM|EXECABORT) /.test((error as Error).message ?? '')) return;
    this.reportOutage(error as Error);
  }

  /**
   * Runs a cache call; when it fails, counts the failure (see {@link failed}) and answers what `fallback` gives
   * instead (which may rethrow), so the caller degrades to Postgres. The one place a failed Redis call is turned
   * into a fallback.
   */
  async attempt<R, F = R>(call: () => Promise<R>, fallback: (error: unknown) => F | Promise<F>): Promise<R | F> {
    try {
      return await call();
    } catch (error) {
      this.failed(error);
      return fallback(error);
    }
  }

  async ping(): Promise<void> {
    await this.reader.ping();
  }

  /**
   * Gives both connections up to their connect timeout to come up before the app listens, so a freshly started
   * app does not serve its first requests without Redis when Redis is there. A Redis that is down does not
   * hold the start: requests then go on without it, and the clients connect when it appears.
   */
  async onModuleInit(): Promise<void> {
    // A refused connection says at once that Redis is not there: no need to wait out the timeout for it.
    const ready = (client: RedisClient): Promise<unknown> =>
      client.status === 'ready'
        ? Promise.resolve()
        : new Promise((resolve) => {
            const settle = (): void => {
              client.off('ready', settle);
              client.off('error', settle);
              resolve(undefined);
            };
            client.once('ready', settle);
            client.once('error', settle);
          });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([ready(this.reader), ready(this.writer)]),
      new Promise((resolve) => (timer = setTimeout(resolve, CONNECT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Last, after every `beforeApplicationShutdown` hook, so a batch in hand can still be acknowledged. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.reader, this.writer].map((client) => client.quit().catch(() => client.disconnect())));
  }

  /**
   * Why a breaker on reads: while Redis hangs (a partition, a frozen server), every read would wait the full
   * command timeout before going to Postgres. After `failures` consecutive failed reads, reads skip Redis
   * (BYPASS, straight to Postgres) for a while that starts at 250 ms and doubles up to 10 s while probes keep
   * failing; one successful probe closes it. Skipping Redis on reads cannot serve stale data, so this trades
   * only hit ratio for latency. Writes never go through it.
   */
  private readBreaker(failures: number): CircuitBreakerPolicy | undefined {
    if (failures <= 0) return undefined;
    const breaker = circuitBreaker(handleAll, {
      halfOpenAfter: new ExponentialBackoff({ initialDelay: 250, maxDelay: 10_000 }),
      breaker: new ConsecutiveBreaker(failures),
    });
    breaker.onBreak(() => this.logger.warn(`Redis reads failed ${failures} times in a row: skipping Redis for reads`));
    breaker.onReset(() => this.logger.log('Redis reads work again'));
    return breaker;
  }

  /** The masters of a cluster, or the one Redis: where a SCAN must run to see every key. */
  scanTargets(): Redis[] {
    return this.reader instanceof Cluster ? this.reader.nodes('master') : [this.reader];
  }

  /**
   * Deletes every key matching `pattern` (SCAN on every master, never KEYS; UNLINK one key per command, since a
   * cluster refuses multi-key commands across slots); returns how many. Throws when Redis fails.
   */
  async unlinkMatching(pattern: string): Promise<number> {
    let removed = 0;
    for (const node of this.scanTargets()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        for (const [error, count] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          removed += count as number;
        }
      } while (cursor !== '0');
    }
    return removed;
  }

  /**
   * Fail-fast settings on either kind of client. On a cluster, a command that meets a failover (MOVED, TRYAGAIN,
   * CLUSTERDOWN) is retried within its timeout, and the slot map is refreshed in the background.
   *
   * The commands of one event-loop turn leave in one socket write on both connections on a single Redis
   * ({@link coalesceWrites}): under concurrent requests that saves a socket write per command, the largest single
   * cost of a hit or of a write-behind PATCH in `npm run bench:profile`. Not ioredis's auto-pipelining, which
   * saved the same writes but held a command until the previous pipeline's replies came: a round trip more per
   * hit once Redis is a network away. `unpipelined` are sent at once: for write-behind's read-then-compare-and-set
   * (the entry's `MGET`, then `wbAccept`) a wait of one turn made hot records run out of retries (409s under the
   * bench's Zipf writes). Not on a cluster: there a pipeline meeting a failover is held and retried until a
   * replica is promoted (seconds, in `test/faults/failover.e2e-spec.ts`) where a single command fails at once and the
   * read goes to Postgres.
   */
  private connect(connectionName: string, commandTimeout: number, unpipelined: string[] = []): ScriptedRedis {
    const node = {
      commandTimeout,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: CONNECT_TIMEOUT_MS,
      connectionName,
    };
    const retry = (attempt: number): number => Math.min(50 * 2 ** attempt, 2_000);
    const client: RedisClient = this.config.cluster
      ? new Cluster(this.config.clusterNodes, {
          enableOfflineQueue: false,
          clusterRetryStrategy: retry,
          slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
          retryDelayOnFailover: 100,
          retryDelayOnClusterDown: 100,
          retryDelayOnTryAgain: 100,
          redisOptions: node,
        })
      : new Redis(this.config.redisUrl, { ...node, enableOfflineQueue: false, retryStrategy: retry });
    client.on('error', (error: Error) => this.reportOutage(error));
    const scripted = defineScripts(client);
    if (client instanceof Redis) coalesceWrites(client, unpipelined);
    return scripted;
  }

  private reportOutage(error: Error): void {
    if (this.outage) return;
    this.outage = true;
    this.logger.warn(`Redis unavailable, serving from Postgres until it is back: ${error.message}`);
  }
}
