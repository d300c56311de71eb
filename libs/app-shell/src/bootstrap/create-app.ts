import {
  AppConfigModule,
  type ConfigSlices,
  HttpErrorFilter,
  JsonBodyPipe,
  JsonContentTypeGuard,
  sliceConfig,
  type AppConfig,
} from '@app/common';
import { type DynamicModule, type INestApplication, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppDefinition } from '../app-definition';
import { appLogger } from './app-logger';
import { JsonExpressAdapter } from './json-express-adapter';
import { observeRequests } from './request-hooks';

/** The largest request body any app accepts; bigger ones get 413. */
export const BODY_LIMIT_BYTES = 100 * 1024;

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
  let app: INestApplication;
  if (slices.http.adapter === 'fastify') {
    const fastify = await NestFactory.create<NestFastifyApplication>(
      module,
      new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES }),
      { logger, abortOnError: false },
    );
    observeRequests(fastify, slices.http);
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
