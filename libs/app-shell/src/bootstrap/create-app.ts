import {
  AppConfigModule,
  type ConfigSlices,
  HttpErrorFilter,
  JsonBodyPipe,
  refuseNonJsonBody,
  sliceConfig,
  type AppConfig,
} from '@app/common';
import { type DynamicModule, type INestApplication } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppDefinition } from '../app-definition';
import { appLogger, routeConsoleWarnings } from './app-logger';
import { JsonExpressAdapter } from './json-express-adapter';
import { observeRequests, refuseNestedQueries } from './request-hooks';

/** The largest request body any app accepts; bigger ones get 413. */
export const BODY_LIMIT_BYTES = 100 * 1024;

/**
 * Fastify parses JSON and plain text by default: without the text parser, every body that is not JSON reaches
 * the catch-all parser, which answers 415 (through Nest's exception layer, so in the usual error shape). An
 * empty body with any content type passes, as it does on Express.
 */
function acceptJsonBodiesOnly(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('*', (request, _payload, done) => {
    const refusal = refuseNonJsonBody(request);
    if (refusal === undefined) done(null);
    else done(refusal, undefined);
  });
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
  const logger = appLogger(slices.http);
  routeConsoleWarnings();
  let app: INestApplication;
  if (slices.http.adapter === 'fastify') {
    const fastify = await NestFactory.create<NestFastifyApplication>(
      module,
      new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES }),
      // Fastify's own JSON parser is the only body parser (Nest would add one for forms).
      { logger, abortOnError: false, bodyParser: false },
    );
    acceptJsonBodiesOnly(fastify);
    observeRequests(fastify, slices.http);
    refuseNestedQueries(fastify, slices.http);
    app = fastify;
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, new JsonExpressAdapter(), {
      logger,
      bodyParser: false,
      abortOnError: false,
    });
    express.disable('x-powered-by');
    // ETags come from the record's version (strong, and 304s are answered by the controllers); Express would
    // hash every other body for a weak one.
    express.set('etag', false);
    observeRequests(express, slices.http);
    refuseNestedQueries(express, slices.http);
    express.useBodyParser('json', { limit: BODY_LIMIT_BYTES });
    app = express;
  }
  // One pipe, for bodies only: a read runs no guard and no validation (the content-type rule is applied where
  // bodies are parsed).
  app.useGlobalPipes(new JsonBodyPipe());
  app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost)));
  app.enableShutdownHooks();
  if (slices.http.swagger) {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle(definition.name)
        .setDescription(definition.description)
        // Admin endpoints take the ADMIN_TOKEN the app runs with: an opaque string, not a JWT.
        .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'ADMIN_TOKEN', description: 'The ADMIN_TOKEN' })
        .build(),
    );
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  }
  return app;
}
