import { Logger } from '@nestjs/common';
import { Client } from 'pg';

export interface FeedOptions {
  url: string;
  /** The app's schema, first on the connection's search path. */
  schema: string;
  connectTimeoutMs: number;
  /** Names the connection in `pg_stat_activity`. */
  applicationName: string;
  channels: string[];
  onMessage(channel: string, payload: string | undefined): void;
  /** After each (re)connect, once every channel is listened to: what was sent meanwhile was missed. */
  onConnected(): void;
  /** The connection is gone: notifications sent from now on are missed until `onConnected`. */
  onLost(): void;
}

const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

/**
 * One dedicated Postgres connection that `LISTEN`s to the outbox's channels (a pooled connection cannot: it is
 * handed to other queries). It reconnects on its own, backing off from 250 ms to 5 s, and says when it is
 * connected again, since notifications sent while it was away are lost (the outbox table still has them).
 */
export class InvalidationFeed {
  private readonly logger = new Logger('InvalidationFeed');
  private client?: Client;
  private retryMs = MIN_RETRY_MS;
  private retry?: NodeJS.Timeout;
  private stopped = false;
  private live = false;
  private reportedDown = false;

  constructor(private readonly options: FeedOptions) {}

  /** True while notifications arrive. */
  get connected(): boolean {
    return this.live;
  }

  start(): void {
    void this.connect();
  }

  /** Postgres answers again (a pooled query got through): retry now rather than at the end of the back-off. */
  reconnectNow(): void {
    if (this.stopped || this.retry === undefined) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    void this.connect();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    this.live = false;
    if (client === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
    ]);
    clearTimeout(timer);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
      application_name: this.options.applicationName,
      options: `-c search_path=${this.options.schema}`,
    });
    this.client = client;
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => this.options.onMessage(message.channel, message.payload));
    try {
      await client.connect();
      for (const channel of this.options.channels) await client.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
    } catch (error) {
      if (!this.reportedDown) this.logger.warn(`Cannot listen for invalidations: ${(error as Error).message}`);
      this.reportedDown = true;
      this.lost(client);
      return;
    }
    if (this.stopped || this.client !== client) {
      // Closed (or replaced) while connecting: this client is nobody's, and would keep the process alive.
      void client.end().catch(() => undefined);
      return;
    }
    if (this.reportedDown) this.logger.log('Listening for invalidations again');
    this.reportedDown = false;
    this.retryMs = MIN_RETRY_MS;
    this.live = true;
    this.options.onConnected();
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.live = false;
    this.options.onLost();
    client.removeAllListeners('notification');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    if (!this.reportedDown) this.logger.warn('Lost the invalidation feed; reconnecting');
    this.reportedDown = true;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(2 * this.retryMs, MAX_RETRY_MS);
  }
}
