import { AppIdentity, CacheConfig } from '@app/common';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { NearCache } from '../../near/near-cache';
import { CacheKeys } from '../../redis/cache-keys';

/** Reconnect attempts to one cluster node before the feed tries the next. */
const ATTEMPTS_PER_NODE = 3;

/**
 * Write-behind's side of near-cache coherence. Its changes reach Postgres, and so the outbox's `NOTIFY`, only
 * when flushed, so the accept scripts also publish each accepted change (`<id>:<version>`, `:D` for a
 * deletion) on a Redis channel, inside the script: the message is on its way to every subscriber before the
 * writer hears back. This connection hears them for this instance's near cache, which is used only while it is
 * subscribed: on a lost connection the near cache is emptied and off until the subscription is back (pub/sub
 * keeps nothing for a subscriber that was away). On a cluster every node forwards PUBLISH to all the others, so
 * one node's connection hears every change; when that node stays unreachable, the feed moves to the next.
 * Only when `NEAR_CACHE_MAX_ENTRIES` is set.
 */
@Injectable()
export class AcceptedChangeFeed implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AcceptedChangeFeed');
  private client?: Redis;
  private node = 0;
  private stopped = false;

  constructor(
    private readonly near: NearCache,
    private readonly keys: CacheKeys,
    private readonly config: CacheConfig,
    private readonly identity: AppIdentity,
  ) {
    if (near.configured) near.requireFeed('redis');
  }

  onApplicationBootstrap(): void {
    if (this.near.configured) this.connect();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.client?.disconnect();
  }

  private connect(): void {
    const cluster = this.config.clusterNodes;
    const options: RedisOptions = {
      connectionName: `${this.identity.keyPrefix}near-feed`,
      enableOfflineQueue: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      // A single Redis: retry for ever. A cluster node: a few times, then the next node (on 'end').
      retryStrategy: (attempt) =>
        cluster.length > 0 && attempt > ATTEMPTS_PER_NODE ? null : Math.min(50 * 2 ** attempt, 2_000),
    };
    const node = cluster[this.node % cluster.length];
    const client = node === undefined ? new Redis(this.config.redisUrl, options) : new Redis({ ...node, ...options });
    const channel = this.keys.writeBehind.changes;
    client.on('ready', () => {
      client.subscribe(channel).then(
        () => this.near.enable('redis'),
        // The connection went meanwhile: 'close' has disabled the near cache, 'ready' comes again.
        () => undefined,
      );
    });
    client.on('message', (_channel: string, message: string) => this.received(message));
    client.on('close', () => this.near.disable('redis'));
    // Redis being away is reported by the cache's own connections; this one only reconnects.
    client.on('error', () => undefined);
    client.on('end', () => {
      if (this.stopped) return;
      this.node += 1;
      this.connect();
    });
    this.client = client;
  }

  private received(message: string): void {
    const [id, version, deleted] = message.split(':');
    if (id === undefined || version === undefined) {
      this.logger.warn(`Ignored a malformed change announcement: ${message.slice(0, 100)}`);
      return;
    }
    this.near.changed(Number(id), Number(version), deleted === 'D' ? 'D' : 'U');
  }
}
