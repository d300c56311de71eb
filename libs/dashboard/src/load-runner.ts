import { randomBytes } from 'node:crypto';
import { zipfSampler } from './zipf';

/** Where a load against one app stands, as the page shows it. */
export interface LoadProgress {
  phase: 'preparing' | 'running' | 'done' | 'failed';
  startedAt: number;
  durationMs: number;
  elapsedMs: number;
  requests: number;
  /** Answers other than 2xx, and requests that failed to get one. */
  errors: number;
  message?: string;
}

export interface LoadShape {
  durationMs: number;
  /** Share of requests that are `PATCH {age}` rather than `GET`. */
  writeShare: number;
  concurrency: number;
  /** Users the load reads and writes (created once per app, through its API). */
  users: number;
}

export const DEFAULT_LOAD: LoadShape = { durationMs: 10_000, writeShare: 0.05, concurrency: 8, users: 100 };

/** A request that has not answered in this long counts as an error. */
const REQUEST_TIMEOUT_MS = 2_000;

/**
 * A short load against one app's `/users`: Zipf-distributed reads over users it created once, with a share of
 * writes. One at a time per app; progress is read by polling {@link progress}.
 */
export class LoadRunner {
  private current?: LoadProgress;
  private running?: Promise<void>;
  private ids: number[] = [];
  private stopped = false;

  constructor(private readonly baseUrl: string) {}

  get busy(): boolean {
    return this.current?.phase === 'preparing' || this.current?.phase === 'running';
  }

  progress(): LoadProgress | null {
    if (this.current === undefined) return null;
    const { phase, startedAt, durationMs } = this.current;
    const elapsedMs = phase === 'running' ? Math.min(durationMs, Date.now() - startedAt) : this.current.elapsedMs;
    return { ...this.current, elapsedMs };
  }

  /** Starts a load; false when one is running already. */
  start(shape: LoadShape = DEFAULT_LOAD): boolean {
    if (this.busy) return false;
    const progress: LoadProgress = {
      phase: 'preparing',
      startedAt: Date.now(),
      durationMs: shape.durationMs,
      elapsedMs: 0,
      requests: 0,
      errors: 0,
    };
    this.current = progress;
    this.running = this.run(shape, progress).catch((error: unknown) => {
      progress.phase = 'failed';
      progress.message = error instanceof Error ? error.message : String(error);
    });
    return true;
  }

  /** Stops a running load and waits for its requests in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(shape: LoadShape, progress: LoadProgress): Promise<void> {
    await this.prepareUsers(shape.users);
    const pick = zipfSampler(this.ids.length);
    progress.phase = 'running';
    progress.startedAt = Date.now();
    const deadline = progress.startedAt + shape.durationMs;
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline && !this.stopped) {
        const id = this.ids[pick()]!;
        const ok =
          Math.random() < shape.writeShare
            ? await this.send('PATCH', `/users/${id}`, { age: 18 + Math.floor(Math.random() * 60) })
            : await this.send('GET', `/users/${id}`);
        progress.requests += 1;
        if (!ok) progress.errors += 1;
      }
    };
    await Promise.all(Array.from({ length: shape.concurrency }, worker));
    progress.elapsedMs = Math.min(shape.durationMs, Date.now() - progress.startedAt);
    progress.phase = 'done';
  }

  /** Creates the users the load works on, once per app (the ids are kept for later loads). */
  private async prepareUsers(count: number): Promise<void> {
    const run = randomBytes(3).toString('hex');
    while (this.ids.length < count && !this.stopped) {
      const response = await this.request('POST', '/users', {
        name: `Load ${this.ids.length + 1}`,
        email: `load-${run}-${this.ids.length + 1}@dashboard.example`,
        age: 30,
      });
      if (response?.status !== 201)
        throw new Error(`could not create load users (POST /users: ${response?.status ?? 'no answer'})`);
      this.ids.push(((await response.json()) as { id: number }).id);
    }
  }

  private async send(method: string, path: string, body?: unknown): Promise<boolean> {
    const response = await this.request(method, path, body);
    if (response === null) return false;
    await response.arrayBuffer();
    return response.ok;
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response | null> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch {
      return null;
    }
  }
}
