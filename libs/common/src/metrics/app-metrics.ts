import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import { AppIdentity } from '../config/config-slices';

/** One series of a derived metric: its labels and its value. */
export type Sample = [labels: Record<string, string>, value: number];

/**
 * A metric whose value is read at scrape time from counters the app already keeps (the ones `GET /stats`
 * shows), so `/stats` and `/metrics` can never disagree: there is one source of truth.
 */
export interface DerivedMetric<S> {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames?: readonly string[];
  /** The samples of this metric in snapshot `s`; null or an empty list leaves the metric without a sample. */
  samples(s: S): Sample[] | null;
}

/** A snapshot read once per scrape, and the metrics derived from it. */
interface Derivation {
  read(): Promise<unknown>;
  latest?: unknown;
}

/** Micrometer's `outcome` tag, from the status code. */
function outcome(status: number): string {
  if (status < 200) return 'INFORMATIONAL';
  if (status < 300) return 'SUCCESS';
  if (status < 400) return 'REDIRECTION';
  if (status < 500) return 'CLIENT_ERROR';
  return 'SERVER_ERROR';
}

/** prom-client default metrics that are gauges with a `_total` name, left out. */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** `http_server_requests_seconds` buckets: from a Redis hit on loopback to a request that timed out. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The app's Prometheus registry, rendered by `GET /metrics` (or, for a worker without HTTP, by a small
 * metrics-only server). Names follow Micrometer's, so dashboards made for Spring apps read these too:
 * `http_server_requests_seconds{method,uri,status,outcome}`, `cache_gets_total{cache,result}` and so on,
 * with the app's name in an `application` label. Labels never hold a key, an id or an email: `uri` is the
 * route template, and a request no route matched is `NOT_FOUND` (or `UNKNOWN`).
 */
@Injectable()
export class AppMetrics implements OnApplicationShutdown {
  /** One registry per app, not prom-client's global one: tests run several apps in one process. */
  readonly registry = new Registry();
  private readonly requests = new Histogram({
    name: 'http_server_requests_seconds',
    help: 'HTTP requests served, by route template',
    labelNames: ['method', 'uri', 'status', 'outcome'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  private readonly derivations: Derivation[] = [];
  private server?: Server;

  constructor(identity: AppIdentity) {
    this.registry.setDefaultLabels({ application: identity.name });
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters: Prometheus's linter (`promtool check metrics`) rejects them.
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
  }

  /** Counts one HTTP request; `route` is the matched route's template, undefined when none matched. */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void {
    const uri = route ?? (status === 404 ? 'NOT_FOUND' : status >= 300 && status < 400 ? 'REDIRECTION' : 'UNKNOWN');
    this.requests.observe({ method, uri, status: String(status), outcome: outcome(status) }, seconds);
  }

  /** Registers a metric the app observes itself (a histogram, say). */
  register(metric: Metric): void {
    this.registry.registerMetric(metric);
  }

  /**
   * Registers metrics derived from a snapshot. `read` runs once per scrape, before any of them is collected;
   * when it fails (Redis away, say), those metrics have no samples in that scrape rather than stale ones.
   */
  derive<S>(read: () => Promise<S> | S, metrics: DerivedMetric<S>[]): void {
    const derivation: Derivation = { read: async () => read() };
    this.derivations.push(derivation);
    for (const definition of metrics) {
      const options = {
        name: definition.name,
        help: definition.help,
        labelNames: definition.labelNames ?? [],
        registers: [this.registry],
        collect(this: Counter | Gauge) {
          this.reset();
          const samples = derivation.latest === undefined ? null : definition.samples(derivation.latest as S);
          // A metric without labels resets to 0; no sample is the truth when the value is unknown.
          if (samples === null || samples.length === 0) this.remove({});
          for (const [labels, value] of samples ?? []) {
            if (this instanceof Counter) this.inc(labels, value);
            else this.set(labels, value);
          }
        },
      };
      if (definition.type === 'counter') new Counter(options);
      else new Gauge(options);
    }
  }

  /** The exposition text of every metric, after reading each snapshot once. */
  async render(): Promise<string> {
    await Promise.all(
      this.derivations.map(async (derivation) => {
        derivation.latest = await derivation.read().catch(() => undefined);
      }),
    );
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** For an app without HTTP (the write-behind worker): `GET /metrics` on a port of its own. */
  async serve(port: number, host: string): Promise<number> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: GET /metrics\n');
        return;
      }
      this.render().then(
        (text) => response.writeHead(200, { 'content-type': this.contentType }).end(text),
        () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : port;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** `metrics` read from the part of a larger snapshot that `pick` returns. */
export function derivedFrom<S, T>(metrics: DerivedMetric<T>[], pick: (s: S) => T): DerivedMetric<S>[] {
  return metrics.map((metric) => ({ ...metric, samples: (s: S) => metric.samples(pick(s)) }));
}
