import {
  AppConfigModule,
  AppMetrics,
  type ConfigSlices,
  HttpErrorFilter,
  type HttpConfig,
  JsonBodyPipe,
  JsonContentTypeGuard,
  sliceConfig,
  type AppConfig,
} from '@app/common';
import { type DynamicModule, type INestApplication, type LogLevel, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppDefinition } from '../app-definition';

/** The largest request body any app accepts; bigger ones get 413. */
export const BODY_LIMIT_BYTES = 100 * 1024;

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function logLevels(http: HttpConfig): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(http.logLevel) + 1);
}

/** The app's static module, with the configuration slices made global at its root. */
export function rootModule(definition: AppDefinition, slices: ConfigSlices): DynamicModule {
  return { module: definition.module, imports: [AppConfigModule.forRoot(slices)] };
}

/**
 * Creates a Nest application on the configured HTTP adapter (Express by default, Fastify with
 * `HTTP_ADAPTER=fastify`) with everything every app shares: body limit, validation, the error filter,
 * Swagger at /docs and shutdown hooks. It does not listen, so tests use the very same setup.
 */
export function createApp(definition: AppDefinition, env: AppConfig): Promise<INestApplication> {
  return createAppWith(definition, sliceConfig(definition.name, env));
}

/** {@link createApp} from configuration already mapped into slices. */
export async function createAppWith(definition: AppDefinition, slices: ConfigSlices): Promise<INestApplication> {
  const module = rootModule(definition, slices);
  const logger = logLevels(slices.http);
  let app: INestApplication;
  if (slices.http.adapter === 'fastify') {
    const fastify = await NestFactory.create<NestFastifyApplication>(
      module,
      new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES }),
      { logger, abortOnError: false },
    );
    const metrics = fastify.get(AppMetrics);
    fastify
      .getHttpAdapter()
      .getInstance()
      .addHook('onResponse', (request, reply, done) => {
        metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
        done();
      });
    app = fastify;
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(), {
      logger,
      bodyParser: false,
      abortOnError: false,
    });
    express.disable('x-powered-by');
    const metrics = express.get(AppMetrics);
    // Express sets `request.route` once a route matches: its path is the template (`/users/:id`).
    express.use(
      (request: IncomingMessage & { route?: { path?: string } }, response: ServerResponse, next: () => void) => {
        const started = performance.now();
        response.once('finish', () => {
          metrics.observeRequest(
            request.method ?? 'GET',
            request.route?.path,
            response.statusCode,
            (performance.now() - started) / 1000,
          );
        });
        next();
      },
    );
    express.useBodyParser('json', { limit: BODY_LIMIT_BYTES });
    app = express;
  }
  app.useGlobalGuards(new JsonContentTypeGuard());
  app.useGlobalPipes(
    new JsonBodyPipe(),
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      // Bodies are validated as DTO classes but passed on as parsed; route params stay strings for their own pipes.
      transform: false,
      stopAtFirstError: false,
    }),
  );
  app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost)));
  app.enableShutdownHooks();
  if (slices.http.swagger) {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().setTitle(definition.name).setDescription(definition.description).addBearerAuth().build(),
    );
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  }
  return app;
}
