import {
  type DynamicModule,
  type INestApplication,
  type INestApplicationContext,
  type LogLevel,
  Logger,
  type Type,
  ValidationPipe,
} from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '../config/app-config';
import { InvalidConfigError } from '../errors/invalid-config.error';
import { HttpErrorFilter } from '../http/http-error.filter';
import { JsonBodyPipe } from '../http/json-body.pipe';
import { JsonContentTypeGuard } from '../http/json-content-type.guard';

/** The largest request body any app accepts; bigger ones get 413. */
export const BODY_LIMIT_BYTES = 100 * 1024;

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

function logLevels(config: AppConfig): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(config.LOG_LEVEL) + 1);
}

export interface AppDescription {
  title: string;
  description: string;
}

/**
 * Creates a Nest application on the configured HTTP adapter (Express by default, Fastify with
 * `HTTP_ADAPTER=fastify`) with everything every app shares: body limit, validation, the error filter,
 * Swagger at /docs and shutdown hooks. It does not listen, so tests use the very same setup.
 */
export async function createApp(
  module: Type | DynamicModule,
  config: AppConfig,
  description: AppDescription,
): Promise<INestApplication> {
  const logger = logLevels(config);
  let app: INestApplication;
  if (config.HTTP_ADAPTER === 'fastify') {
    const fastify = await NestFactory.create<NestFastifyApplication>(
      module,
      new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES }),
      { logger, abortOnError: false },
    );
    app = fastify;
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(), {
      logger,
      bodyParser: false,
      abortOnError: false,
    });
    express.disable('x-powered-by');
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
  if (config.SWAGGER_ENABLED) {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().setTitle(description.title).setDescription(description.description).addBearerAuth().build(),
    );
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  }
  return app;
}

/**
 * Starts an app for real: validates the environment (printing every problem and exiting 1 when it is bad),
 * builds the module, listens on the configured or default port.
 */
export async function startApp(
  load: () => AppConfig,
  build: (config: AppConfig) => Type | DynamicModule,
  description: AppDescription & { name: string; defaultPort: number; headless?: (config: AppConfig) => boolean },
): Promise<INestApplicationContext> {
  const logger = new Logger(description.name);
  let config: AppConfig;
  try {
    config = load();
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      process.stderr.write(`${description.name}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  if (description.headless?.(config)) {
    const context = await NestFactory.createApplicationContext(build(config), {
      logger: logLevels(config),
      abortOnError: false,
    });
    context.enableShutdownHooks();
    logger.log(`${description.name} running without HTTP`);
    return context;
  }
  const app = await createApp(build(config), config, description);
  const port = config.PORT ?? description.defaultPort;
  await app.listen(port, config.HOST);
  logger.log(`${description.name} listening on http://${config.HOST}:${port} (${config.HTTP_ADAPTER}); docs at /docs`);
  return app;
}
