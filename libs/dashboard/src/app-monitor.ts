import { DashboardConfig } from '@app/common';
import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LoadRunner, type LoadProgress } from './load-runner';

/** `up`: it and its dependencies answer; `degraded`: it answers, a dependency does not; `down`: no answer. */
export type AppStatus = 'up' | 'degraded' | 'down' | 'unknown';

/** One point of a panel's recent history. */
export interface HistoryPoint {
  at: number;
  requestsPerSec: number;
  hitRatio: number | null;
}

/** One app's panel. Rates are over the last poll interval; latency percentiles over its last 10,000 reads. */
export interface PanelState {
  name: string;
  url: string;
  status: AppStatus;
  /** What health or the failed poll said, when not up. */
  detail: string | null;
  pattern: string | null;
  requestsPerSec: number | null;
  hitRatio: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  dbReadsPerSec: number | null;
  /** Grace copies answered past their TTL per second (Postgres failing or slow). */
  staleReadsPerSec: number | null;
  /** With read replicas: the share of loads after a miss a replica answered, and its rows refused as too old, per second. */
  replicaShare: number | null;
  replicaRefusedPerSec: number | null;
  reads: number | null;
  hits: number | null;
  /** Write-behind: records with changes not yet in Postgres, and the age of the oldest. */
  pending: number | null;
  lagMs: number | null;
  /** Refresh-ahead: keys in the hot set at the last sweep. */
  hotKeys: number | null;
  /** False where the cache holds data Postgres does not have yet (write-behind). */
  canClear: boolean;
  load: LoadProgress | null;
  history: HistoryPoint[];
}

export interface DashboardState {
  at: number;
  panels: PanelState[];
}

interface StatsBody {
  pattern?: string;
  reads?: number;
  hits?: number;
  writes?: number;
  dbReads?: number;
  stale?: number;
  hitRatio?: number;
  latencyMs?: { read?: { p50?: number | null; p99?: number | null } };
  pendingWrites?: number | null;
  oldestPendingMs?: number | null;
  hotItems?: number;
  replicas?: { fromReplica?: number; fromPrimary?: number; refusedReplicaRows?: number; replicas?: unknown[] };
}

/** What a panel shows of an app that does not answer: no numbers rather than old ones. */
const NO_NUMBERS = {
  requestsPerSec: null,
  hitRatio: null,
  p50Ms: null,
  p99Ms: null,
  dbReadsPerSec: null,
  staleReadsPerSec: null,
  replicaShare: null,
  replicaRefusedPerSec: null,
  reads: null,
  hits: null,
  pending: null,
  lagMs: null,
  hotKeys: null,
} satisfies Partial<PanelState>;

const POLL_EVERY_MS = 1_000;
/** Each poll gives up after this, so an app that hangs shows as down instead of stalling the page. */
const POLL_TIMEOUT_MS = 800;
const HISTORY_POINTS = 60;

class Panel {
  state: PanelState;
  readonly load: LoadRunner;
  private previous?: { at: number; stats: StatsBody };

  constructor(name: string, url: string) {
    this.load = new LoadRunner(url);
    this.state = {
      name,
      url,
      status: 'unknown',
      detail: null,
      pattern: null,
      ...NO_NUMBERS,
      canClear: name !== 'write-behind',
      load: null,
      history: [],
    };
  }

  async poll(): Promise<void> {
    const at = Date.now();
    const [stats, health] = await Promise.all([
      getJson(`${this.state.url}/stats`),
      getJson(`${this.state.url}/health`),
    ]);
    if (stats === null || stats.status !== 200) {
      this.previous = undefined;
      this.state = {
        ...this.state,
        status: 'down',
        detail: stats === null ? 'no answer' : `GET /stats answered ${stats.status}`,
        ...NO_NUMBERS,
        load: this.load.progress(),
      };
      return;
    }
    const body = stats.body as StatsBody;
    const delta = this.delta(at, body);
    this.previous = { at, stats: body };
    const healthStatus = (health?.body as { status?: string } | null)?.status;
    const status: AppStatus = health?.status === 200 && healthStatus === 'ok' ? 'up' : 'degraded';
    const requestsPerSec = delta === null ? null : delta.requests / delta.seconds;
    const hitRatio = delta !== null && delta.reads > 0 ? delta.hits / delta.reads : (body.hitRatio ?? null);
    this.state = {
      ...this.state,
      status,
      detail: status === 'up' ? null : describeHealth(health),
      pattern: body.pattern ?? null,
      requestsPerSec,
      hitRatio,
      p50Ms: body.latencyMs?.read?.p50 ?? null,
      p99Ms: body.latencyMs?.read?.p99 ?? null,
      dbReadsPerSec: delta === null ? null : delta.dbReads / delta.seconds,
      staleReadsPerSec: delta === null ? null : delta.stale / delta.seconds,
      ...this.replicaNumbers(body, delta),
      reads: body.reads ?? null,
      hits: body.hits ?? null,
      pending: body.pendingWrites ?? null,
      lagMs: body.pendingWrites === undefined ? null : (body.oldestPendingMs ?? 0),
      hotKeys: body.hotItems ?? null,
      load: this.load.progress(),
      history: [...this.state.history, { at, requestsPerSec: requestsPerSec ?? 0, hitRatio }].slice(-HISTORY_POINTS),
    };
  }

  /** Replica share and refusals: null where the app has no read replicas (or on the first poll). */
  private replicaNumbers(
    body: StatsBody,
    delta: { seconds: number; fromReplica: number; fromPrimary: number; refused: number } | null,
  ): Pick<PanelState, 'replicaShare' | 'replicaRefusedPerSec'> {
    if (delta === null || (body.replicas?.replicas?.length ?? 0) === 0) {
      return { replicaShare: null, replicaRefusedPerSec: null };
    }
    const loads = delta.fromReplica + delta.fromPrimary;
    return {
      replicaShare: loads === 0 ? null : delta.fromReplica / loads,
      replicaRefusedPerSec: delta.refused / delta.seconds,
    };
  }

  /** Counter differences since the last poll; null on the first, or when the app restarted (counters fell). */
  private delta(
    at: number,
    stats: StatsBody,
  ): {
    seconds: number;
    requests: number;
    reads: number;
    hits: number;
    dbReads: number;
    stale: number;
    fromReplica: number;
    fromPrimary: number;
    refused: number;
  } | null {
    const before = this.previous;
    if (before === undefined) return null;
    const diff = (field: 'reads' | 'hits' | 'writes' | 'dbReads' | 'stale'): number =>
      (stats[field] ?? 0) - (before.stats[field] ?? 0);
    const reads = diff('reads');
    if (reads < 0 || diff('writes') < 0) return null;
    return {
      seconds: Math.max(0.001, (at - before.at) / 1000),
      requests: reads + diff('writes'),
      reads,
      hits: diff('hits'),
      dbReads: diff('dbReads'),
      stale: diff('stale'),
      fromReplica: (stats.replicas?.fromReplica ?? 0) - (before.stats.replicas?.fromReplica ?? 0),
      fromPrimary: (stats.replicas?.fromPrimary ?? 0) - (before.stats.replicas?.fromPrimary ?? 0),
      refused: (stats.replicas?.refusedReplicaRows ?? 0) - (before.stats.replicas?.refusedReplicaRows ?? 0),
    };
  }
}

async function getJson(url: string): Promise<{ status: number; body: unknown } | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
  } catch {
    return null;
  }
}

/** "redis: down" and the like, from a terminus health body. */
function describeHealth(health: { status: number; body: unknown } | null): string {
  if (health === null) return 'GET /health did not answer';
  const details = (health.body as { details?: Record<string, { status?: string }> } | null)?.details ?? {};
  const down = Object.entries(details).filter(([, detail]) => detail.status !== 'up');
  return down.length === 0 ? `GET /health answered ${health.status}` : down.map(([name]) => `${name} down`).join(', ');
}

/**
 * Polls every app of the dashboard once a second (`/stats`, `/health`) and keeps each one's panel: rates from
 * counter differences, the recent history, and the load running against it.
 */
@Injectable()
export class AppMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly panels: Panel[];
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private closing = false;

  constructor(private readonly config: DashboardConfig) {
    this.panels = config.apps.map(({ name, url }) => new Panel(name, url));
  }

  state(): DashboardState {
    return { at: Date.now(), panels: this.panels.map((panel) => ({ ...panel.state, load: panel.load.progress() })) };
  }

  /** The panel of `name`, or undefined. */
  panel(name: string): { state: PanelState; load: LoadRunner } | undefined {
    return this.panels.find((panel) => panel.state.name === name);
  }

  onApplicationBootstrap(): void {
    this.pollAll();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    await Promise.all(this.panels.map((panel) => panel.load.stop()));
    await this.polling;
  }

  /** Polls every app at once, then again a second after the slowest answered (polls never pile up). */
  private pollAll(): void {
    this.polling = Promise.all(this.panels.map((panel) => panel.poll())).then(() => {
      if (!this.closing) this.timer = setTimeout(() => this.pollAll(), POLL_EVERY_MS);
    });
  }
}
