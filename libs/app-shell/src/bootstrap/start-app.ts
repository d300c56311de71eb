import { AppMetrics, type AppConfig, InvalidConfigError, loadAppConfig, sliceConfig } from '@app/common';
import { type INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AppDefinition } from '../app-definition';
import { appLogger } from './app-logger';
import { createAppWith, rootModule } from './create-app';

/**
 * `main.ts` of every app: validates the environment (printing every problem and exiting 1 when it is bad),
 * then listens on the configured or default port, or runs without HTTP when the definition says so.
 */
export async function startApp(definition: AppDefinition): Promise<INestApplicationContext> {
  const logger = new Logger(definition.name);
  let env: AppConfig;
  try {
    env = loadAppConfig();
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      process.stderr.write(`${definition.name}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const slices = sliceConfig(definition.name, env);
  if (definition.headless?.(slices)) {
    const context = await NestFactory.createApplicationContext(rootModule(definition, slices), {
      logger: appLogger(slices.http),
      abortOnError: false,
    });
    context.enableShutdownHooks();
    const metricsPort = await context.get(AppMetrics).serve(slices.http.metricsPort, slices.http.host);
    logger.log(`${definition.name} running without HTTP; metrics at http://${slices.http.host}:${metricsPort}/metrics`);
    return context;
  }
  const app = await createAppWith(definition, slices);
  const port = slices.http.port ?? definition.defaultPort;
  await app.listen(port, slices.http.host);
  logger.log(
    `${definition.name} listening on http://${slices.http.host}:${port} (${slices.http.adapter}); docs at /docs`,
  );
  return app;
}
