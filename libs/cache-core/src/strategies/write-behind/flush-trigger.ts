import { WriteBehindConfig } from '@app/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { type Queue, Worker } from 'bullmq';
import { WRITE_BEHIND_QUEUE } from './write-behind.queue';

const FLUSH = 'flush';
const NOW_TIMEOUT_MS = 1000;
/** How long shutdown lets BullMQ close the queue before dropping its connection. */
const CLOSE_GRACE_MS = 2000;

/**
 * Asks the workers to flush, through BullMQ. Triggers are debounced into one delayed job per delay window,
 * retried with exponential backoff and jitter when a flush
 * fails (Postgres away); a job scheduler adds one every `flushIntervalMs` as a safety net, so a lost trigger
 * only delays a flush. The changes themselves are in the change log, not in the jobs.
 */
@Injectable()
export class FlushTrigger {
  private readonly logger = new Logger(FlushTrigger.name);
  private lastTrigger = 0;
  private unsettled?: Promise<void>;
  private outage = false;
  /** The queue's connection was dropped at shutdown already (see `disconnect`). */
  private dropped = false;

  constructor(
    @InjectQueue(WRITE_BEHIND_QUEUE) private readonly queue: Queue,
    private readonly options: WriteBehindConfig,
  ) {
    // Without a listener BullMQ prints every reconnect failure with its stack: one line per outage instead.
    queue.on('error', (error) => this.connectionLost(error));
    this.boundShutdown(queue as Queue & { onApplicationShutdown?: () => Promise<unknown> });
  }

  /**
   * `@nestjs/bullmq` closes the queue at shutdown with `queue.close()`, which waits for its Redis connection to
   * come up, however long Redis is away (an app stopped during an outage ran until it was killed). Bounded here:
   * past the grace its connection is dropped, and the app's shutdown goes on.
   */
  private boundShutdown(queue: Queue & { onApplicationShutdown?: () => Promise<unknown> }): void {
    const close = queue.onApplicationShutdown?.bind(queue);
    if (close === undefined) return;
    queue.onApplicationShutdown = async () => {
      if (this.outage || this.dropped) {
        // Not awaited: BullMQ's disconnect, too, first waits for the connection it is dropping to come up.
        queue.disconnect().catch(() => undefined);
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        close().then(
          () => true,
          () => true,
        ),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS))),
      ]);
      clearTimeout(timer);
      if (closed) return;
      this.logger.warn('BullMQ did not close the flush queue in time: dropping its connection');
      queue.disconnect().catch(() => undefined);
    };
  }

  /** Logs the first connection error of an outage; the rest of it stays quiet. */
  connectionLost(error: Error): void {
    if (this.outage) return;
    this.outage = true;
    this.logger.warn(`BullMQ lost Redis, flush jobs wait until it is back: ${error.message}`);
  }

  /** Called when a job ran or a trigger was taken: BullMQ reaches Redis again. */
  connectionWorks(): void {
    if (!this.outage) return;
    this.outage = false;
    this.logger.log('BullMQ reaches Redis again');
  }

  /** After a change: flush within `batchDelayMs`, together with whatever else arrives meanwhile. */
  soon(): void {
    // One trigger per delay window from this process is enough: the job flushes everything pending by then.
    const now = Date.now();
    // And none while an earlier one has not settled (BullMQ's connection still reconnecting): no pile-up.
    if (now - this.lastTrigger < this.options.batchDelayMs || this.unsettled !== undefined) return;
    this.lastTrigger = now;
    this.add('flush', this.options.batchDelayMs).catch((error: unknown) =>
      this.logger.warn(`Flush trigger lost: ${String(error)}`),
    );
  }

  /**
   * Flush as soon as a worker is free. Waits at most `NOW_TIMEOUT_MS` for BullMQ to take the job: the change
   * log, not the job, holds the changes, and callers that must see them flushed drain directly meanwhile.
   */
  async now(): Promise<void> {
    const added = this.add('flush-now', 0).catch((error: unknown) =>
      this.logger.warn(`Flush trigger lost: ${String(error)}`),
    );
    await Promise.race([added, new Promise((resolve) => setTimeout(resolve, NOW_TIMEOUT_MS).unref())]);
  }

  /**
   * Registers the safety-net job scheduler. Not awaited at start: BullMQ waits for Redis however long it is
   * away, and an app must start (and answer 503) without it.
   */
  scheduleWhenReachable(): void {
    this.queue
      .upsertJobScheduler(
        'flush-tick',
        { every: this.options.flushIntervalMs },
        { name: FLUSH, opts: this.jobOptions() },
      )
      .then(() => this.connectionWorks())
      .catch((error: unknown) => this.logger.debug(`Flush scheduler not registered: ${String(error)}`));
  }

  /** A worker for this queue, on the queue's connection settings and prefix; started by `run()`. */
  createWorker(process: () => Promise<unknown>): Worker {
    return new Worker(this.queue.name, process, {
      connection: this.queue.opts.connection,
      prefix: this.queue.opts.prefix,
      autorun: false,
      concurrency: 1,
    });
  }

  /** Drops the queue's connections at once: pending commands fail instead of waiting for Redis. */
  async disconnect(): Promise<void> {
    this.dropped = true;
    await this.queue.disconnect();
  }

  /**
   * A delayed trigger is deduplicated for as long as its delay (one waiting job however many changes arrive);
   * an immediate one is not, so it never waits behind a delayed one.
   */
  private add(dedupId: string, delay: number): Promise<void> {
    const deduplication = delay > 0 ? { deduplication: { id: dedupId, ttl: delay } } : {};
    const added = this.queue
      .add(FLUSH, {}, { ...this.jobOptions(), delay, ...deduplication })
      .then(() => this.connectionWorks())
      .finally(() => {
        if (this.unsettled === added) this.unsettled = undefined;
      });
    this.unsettled = added;
    return added;
  }

  private jobOptions(): {
    attempts: number;
    backoff: { type: 'exponential'; delay: number; jitter: number };
    removeOnComplete: boolean;
    removeOnFail: number;
  } {
    return {
      attempts: 20,
      backoff: { type: 'exponential', delay: this.options.backoffMs, jitter: 0.5 },
      removeOnComplete: true,
      removeOnFail: 100,
    };
  }
}
