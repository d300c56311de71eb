import { Processor, WorkerHost } from '@nestjs/bullmq';
import { type BeforeApplicationShutdown, Inject, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ChangeLog } from './change-log';
import { FlushTrigger } from './flush-trigger';
import { WRITE_BEHIND_OPTIONS, WRITE_BEHIND_QUEUE, type WriteBehindOptions } from './write-behind.options';
import { WriteBehindFlusher } from './write-behind-flusher';

/** Batches a flush job may write before handing over to a fresh job (keeps jobs short, shutdown quick). */
const BATCHES_PER_JOB = 20;

/** How long shutdown waits for the job in hand. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The BullMQ worker: each flush job drains the change log. It runs in every process whose role is `all` or
 * `worker`; several such processes share the queue and the log, so flushing scales out. On shutdown
 * the flusher stops after its batch and the worker closes once that job is done, before any connection closes.
 */
@Processor(WRITE_BEHIND_QUEUE, { autorun: false, concurrency: 1 })
export class FlushProcessor extends WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(FlushProcessor.name);
  private lastActivity = Date.now();
  private watchdog?: NodeJS.Timeout;
  private drainingDirectly = false;

  constructor(
    private readonly flusher: WriteBehindFlusher,
    private readonly trigger: FlushTrigger,
    private readonly log: ChangeLog,
    @Inject(WRITE_BEHIND_OPTIONS) private readonly options: WriteBehindOptions,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.trigger.schedule();
    if (this.options.role === 'api') return;
    void this.worker.run();
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

  private async checkIdle(idleMs: number): Promise<void> {
    if (Date.now() - this.lastActivity < idleMs) return;
    try {
      if (!(await this.log.hasEligible())) {
        this.lastActivity = Date.now();
        return;
      }
      this.logger.warn('Changes are waiting and no flush job ran lately: flushing directly');
      await this.drainDirectly();
    } catch (error) {
      this.logger.warn(`Direct flush failed: ${(error as Error).message}`);
    }
  }

  /** SIGTERM: finish the batch in hand, acknowledge it, then let the worker go (its Redis still open). */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.watchdog);
    this.flusher.stop();
    const closed = this.worker.close();
    const timedOut = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), SHUTDOWN_GRACE_MS).unref()),
    ]);
    // Past the grace period (Redis unreachable), stop waiting: unacknowledged claims are flushed again later.
    if (timedOut) void this.worker.close(true).catch(() => undefined);
  }

  async process(): Promise<{ rows: number }> {
    this.lastActivity = Date.now();
    const { rows, more } = await this.flusher.drain(BATCHES_PER_JOB);
    this.lastActivity = Date.now();
    if (more) await this.trigger.now();
    return { rows };
  }
}
