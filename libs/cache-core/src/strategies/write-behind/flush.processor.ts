import { WriteBehindConfig } from '@app/common';
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Worker } from 'bullmq';
import { RecordCache } from '../../records/record-cache';
import { ChangeLog } from './change-log';
import { FlushTrigger } from './flush-trigger';
import { WriteAdmission } from './write-admission';
import { WriteBehindFlusher } from './write-behind-flusher';

/** Batches a flush job may write before handing over to a fresh job (keeps jobs short, shutdown quick). */
const BATCHES_PER_JOB = 20;

/** How long shutdown waits for the batch in hand; then for BullMQ to close, and to drop its connections. */
const BATCH_GRACE_MS = 3_000;
const CLOSE_GRACE_MS = 2_000;

/**
 * The BullMQ worker: each flush job drains the change log. It runs in every process whose role is `all` or
 * `worker`; several such processes share the queue and the log, so flushing scales out. On shutdown
 * the flusher stops after its batch and the worker closes once that job is done, before any connection closes.
 *
 * The worker is created here rather than with `@Processor`, so this class alone decides how long shutdown
 * waits for it: a BullMQ connection that never comes back after Redis restarted (seen with BullMQ 6's blocking
 * connection stuck in `reconnecting`) would otherwise hold the app's shutdown forever.
 */
@Injectable()
export class FlushProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(FlushProcessor.name);
  private worker?: Worker;
  private lastActivity = Date.now();
  private watchdog?: NodeJS.Timeout;
  private drainingDirectly = false;
  private activeJob?: Promise<unknown>;

  constructor(
    private readonly flusher: WriteBehindFlusher,
    private readonly trigger: FlushTrigger,
    private readonly log: ChangeLog,
    private readonly cache: RecordCache,
    private readonly options: WriteBehindConfig,
    private readonly admission: WriteAdmission,
  ) {}

  /** Nothing here waits for Redis: with Redis away the app starts, answers 503, and catches up once it is back. */
  onApplicationBootstrap(): void {
    this.trigger.scheduleWhenReachable();
    if (this.options.role === 'api') return;
    this.worker = this.trigger.createWorker(() => this.process());
    this.worker.on('error', (error) => this.trigger.connectionLost(error));
    this.worker.run().catch((error: unknown) => this.logger.warn(`Flush worker stopped: ${String(error)}`));
    const every = Math.max(1000, this.options.flushIntervalMs);
    this.watchdog = setInterval(() => void this.checkIdle(3 * every), every).unref();
  }

  /**
   * Flushes in this process, without BullMQ: the safety net for a BullMQ worker that stopped taking jobs
   * (seen after Redis connections were cut and restored). Safe next to the worker: claims are exclusive and
   * acknowledgements version-checked.
   */
  async drainDirectly(): Promise<void> {
    if (this.options.role === 'api' || this.drainingDirectly) return;
    this.drainingDirectly = true;
    try {
      await this.flusher.drain(BATCHES_PER_JOB);
      this.lastActivity = Date.now();
    } finally {
      this.drainingDirectly = false;
    }
  }

  /**
   * Also flushes at once, every tick, while writes are refused for memory or the pending limit: a Redis at its
   * memory limit refuses BullMQ's own scripts, so no flush job can run until the flusher has freed memory.
   */
  private async checkIdle(idleMs: number): Promise<void> {
    const pushingBack = this.admission.refusal !== undefined && this.admission.refusal.reason !== 'eviction-policy';
    if (!pushingBack && Date.now() - this.lastActivity < idleMs) return;
    try {
      if (!(await this.log.hasEligible())) {
        this.lastActivity = Date.now();
        return;
      }
      if (!pushingBack) this.logger.warn('Changes are waiting and no flush job ran lately: flushing directly');
      await this.drainDirectly();
    } catch (error) {
      this.logger.warn(`Direct flush failed: ${(error as Error).message}`);
    }
  }

  /**
   * SIGTERM: finish the batch in hand, acknowledge it, then let the worker go (its Redis still open). With
   * Redis unreachable (now, or for the whole grace period) BullMQ's connections are dropped instead, since its
   * close would wait for Redis forever; claims left unacknowledged are flushed again by the next worker.
   */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.watchdog);
    this.flusher.stop();
    // BullMQ's graceful close waits for Redis however long it is away, and a batch in hand cannot be acknowledged
    // without Redis: with Redis unreachable, neither is waited for (its claims time out and are flushed again).
    const reachable = this.cache.writable;
    if (!reachable) this.logger.warn('Redis unreachable at shutdown: closing BullMQ without waiting for it');
    else await settlesWithin(this.activeJob ?? Promise.resolve(), BATCH_GRACE_MS);
    // Forced: the batch in hand is settled above, and BullMQ waiting for "current jobs" itself can hang for good
    // after its connections were cut and restored, leaving its lock and stalled-job timers running.
    const closing = this.worker?.close(true).catch(() => undefined);
    const closed = reachable && (await settlesWithin(closing, CLOSE_GRACE_MS));
    if (closed) return;
    // Dropping the connections fails the commands that wait for Redis (the queue's close among them).
    if (reachable) this.logger.warn('BullMQ did not close in time: dropping its connections');
    await settlesWithin(Promise.allSettled([this.worker?.disconnect(), this.trigger.disconnect()]), CLOSE_GRACE_MS);
  }

  async process(): Promise<{ rows: number }> {
    this.trigger.connectionWorks();
    this.lastActivity = Date.now();
    const drained = this.flusher.drain(BATCHES_PER_JOB);
    this.activeJob = drained.catch(() => undefined);
    const { rows, more } = await drained;
    this.lastActivity = Date.now();
    if (more) await this.trigger.now();
    return { rows };
  }
}

/** True if `work` settled (either way) within `ms`. */
async function settlesWithin(work: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (work === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}
