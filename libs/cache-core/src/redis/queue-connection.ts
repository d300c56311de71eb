import { CacheConfig } from '@app/common';
import { Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { ConnectionOptions } from 'bullmq';
import { Cluster } from 'ioredis';

/** BullMQ's default backs off to 20 s between reconnects; a flush should resume soon after Redis does. */
const retry = (attempt: number): number => Math.min(100 * 2 ** attempt, 2000);

/**
 * BullMQ's Redis, apart from the cache's fail-fast clients (its blocking worker connection must wait). On a
 * single Redis, options from which BullMQ makes and closes its own connections; on a cluster, one cluster client
 * that BullMQ shares (and duplicates for blocking), closed here after the queue and worker have closed.
 */
@Injectable()
export class QueueConnection implements OnApplicationShutdown {
  readonly options: ConnectionOptions;
  private readonly cluster?: Cluster;

  constructor(config: CacheConfig) {
    if (config.cluster) {
      this.cluster = new Cluster(config.clusterNodes, {
        clusterRetryStrategy: retry,
        redisOptions: { maxRetriesPerRequest: null },
      });
      this.cluster.on('error', () => undefined);
      this.options = this.cluster;
      return;
    }
    const url = new URL(config.redisUrl);
    this.options = {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: decodeURIComponent(url.username) || undefined,
      password: decodeURIComponent(url.password) || undefined,
      db: Number(url.pathname.slice(1) || 0),
      tls: url.protocol === 'rediss:' ? {} : undefined,
      maxRetriesPerRequest: null,
      retryStrategy: retry,
    };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.cluster === undefined) return;
    if (this.cluster.status !== 'ready') this.cluster.disconnect();
    else await this.cluster.quit().catch(() => this.cluster?.disconnect());
  }
}

/** Makes {@link QueueConnection} injectable into `BullModule.forRootAsync`. */
@Global()
@Module({ providers: [QueueConnection], exports: [QueueConnection] })
export class QueueConnectionModule {}
