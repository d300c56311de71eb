import { AppMetrics, type HttpConfig } from '@app/common';
import { type INestApplication, Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What is known of a request once its response is sent. */
interface Served {
  method: string;
  /** The matched route's template (`/users/:id`); undefined when no route matched. */
  route: string | undefined;
  status: number;
  seconds: number;
  xCache: string | undefined;
}

/**
 * Counts every request into `http_server_requests_seconds` and logs it: at `log` level with `LOG_REQUESTS=true`,
 * else at `debug`. The log has the route template, never the path with its ids, like the metric.
 */
export function observeRequests(app: INestApplication, http: HttpConfig): void {
  const metrics = app.get(AppMetrics);
  const logger = new Logger('HTTP');
  const level = http.logRequests ? 'log' : 'debug';
  const served = ({ method, route, status, seconds, xCache }: Served): void => {
    metrics.observeRequest(method, route, status, seconds);
    if (!Logger.isLevelEnabled(level)) return;
    const durationMs = Math.round(seconds * 10_000) / 10;
    const message = `${method} ${route ?? '(no route)'} ${status} ${durationMs} ms${xCache === undefined ? '' : ` X-Cache: ${xCache}`}`;
    const fields = { method, route: route ?? null, status, durationMs, xCache: xCache ?? null };
    if (http.logFormat === 'json') logger[level](message, fields);
    else logger[level](message);
  };
  if (http.adapter === 'fastify') {
    (app as NestFastifyApplication)
      .getHttpAdapter()
      .getInstance()
      .addHook('onResponse', (request, reply, done) => {
        served({
          method: request.method,
          route: request.routeOptions.url,
          status: reply.statusCode,
          seconds: reply.elapsedTime / 1000,
          xCache: header(reply.getHeader('x-cache')),
        });
        done();
      });
    return;
  }
  // Express sets `request.route` once a route matches: its path is the template (`/users/:id`).
  (app as NestExpressApplication).use(
    (request: IncomingMessage & { route?: { path?: string } }, response: ServerResponse, next: () => void) => {
      const started = performance.now();
      response.once('finish', () =>
        served({
          method: request.method ?? 'GET',
          route: request.route?.path,
          status: response.statusCode,
          seconds: (performance.now() - started) / 1000,
          xCache: header(response.getHeader('x-cache')),
        }),
      );
      next();
    },
  );
}

function header(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Why a URL's query cannot be taken, or null. Every query parameter of this API is one plain value: a key with
 * brackets (`scope[]=5`, `scope[a]=5`, which some parsers turn into arrays and objects) or a repeated key would
 * otherwise be ignored, or read as something the client did not mean, so it is a 400 like any other bad value.
 */
export function queryProblem(url: string): string | null {
  const start = url.indexOf('?');
  if (start === -1) return null;
  const seen = new Set<string>();
  for (const key of new URLSearchParams(url.slice(start + 1)).keys()) {
    if (key.includes('[') || key.includes(']')) {
      return `Query parameter ${key}: arrays and objects are not accepted, send one plain value`;
    }
    if (seen.has(key)) return `Query parameter ${key} is repeated: send it once`;
    seen.add(key);
  }
  return null;
}

const badQuery = (message: string): string => JSON.stringify({ statusCode: 400, message, error: 'Bad Request' });

/** Answers 400 to a request whose query is not one plain value per parameter (see {@link queryProblem}). */
export function refuseNestedQueries(app: INestApplication, http: HttpConfig): void {
  if (http.adapter === 'fastify') {
    (app as NestFastifyApplication)
      .getHttpAdapter()
      .getInstance()
      .addHook('onRequest', (request, reply, done) => {
        const problem = queryProblem(request.url);
        if (problem === null) return done();
        void reply.code(400).type('application/json; charset=utf-8').send(badQuery(problem));
      });
    return;
  }
  (app as NestExpressApplication).use((request: IncomingMessage, response: ServerResponse, next: () => void) => {
    const problem = queryProblem(request.url ?? '');
    if (problem === null) return next();
    response.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8' });
    response.end(badQuery(problem));
  });
}
