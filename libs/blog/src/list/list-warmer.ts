import { CacheUnavailableError } from '@app/common';
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ListChunks } from './list-chunks';

/** Builds every list chunk missing from Redis, on request or in the background at start. */
@Injectable()
export class ListWarmer implements BeforeApplicationShutdown {
  private readonly logger = new Logger('PostListCache');
  private closing = false;
  private running?: Promise<unknown>;
  private warmingNow = false;

  constructor(private readonly chunks: ListChunks) {}

  /** True while a background warm-up runs. */
  get warming(): boolean {
    return this.warmingNow;
  }

  /** Returns how many chunks the list has, how many were built from rows, and how many came kept from Postgres. */
  async warm(): Promise<{ chunks: number; built: number; kept: number; ms: number }> {
    const startedAt = Date.now();
    if (!(await this.chunks.usable())) throw new CacheUnavailableError('Cache unavailable: the list cannot be warmed');
    const chunks = this.chunks.chunksUpTo((await this.chunks.maxId(true)).maxId);
    const before = this.chunks.snapshot();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks && !this.closing) {
        const chunk = next;
        next += 1;
        if (!(await this.chunks.cached(chunk))) await this.chunks.chunk(chunk, true);
      }
    };
    await Promise.all(Array.from({ length: this.chunks.concurrency }, worker));
    const after = this.chunks.snapshot();
    return {
      chunks,
      built: after.chunksBuilt - before.chunksBuilt,
      kept: after.chunksKept - before.chunksKept,
      ms: Date.now() - startedAt,
    };
  }

  /** Warms in the background (at start); shutdown waits for the chunk in hand. */
  warmInBackground(): void {
    this.warmingNow = true;
    this.running = this.warm()
      .finally(() => (this.warmingNow = false))
      .then(({ chunks, built, ms }) =>
        this.logger.log(`List cache warm: ${built} of ${chunks} chunks built in ${ms} ms`),
      )
      .catch((error: unknown) => this.logger.warn(`List cache not warmed: ${String(error)}`));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    await this.running;
  }
}
