import type { HttpConfig } from '@app/common';
import { ConsoleLogger, Logger, type LogLevel } from '@nestjs/common';

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function logLevels(http: HttpConfig): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(http.logLevel) + 1);
}

/** Nest's own start-up narration: one line per module and route, at `debug` here (`LOG_LEVEL=debug` shows it). */
const BOOT_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** Nest's console logger, with its start-up narration moved from `log` to `debug`. */
export class AppLogger extends ConsoleLogger {
  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    if (typeof context === 'string' && BOOT_CONTEXTS.has(context)) super.debug(message, ...rest);
    else super.log(message, ...rest);
  }
}

/**
 * Nest's own logger, in the configured format: coloured text on a terminal, JSON lines (with each message's
 * fields at the top level) anywhere else, so files and log collectors get no ANSI codes. Nest's start-up
 * narration (modules loaded, routes mapped: about 30 lines per app) is at `debug`.
 */
export function appLogger(http: HttpConfig): ConsoleLogger {
  return new AppLogger({
    logLevels: logLevels(http),
    json: http.logFormat === 'json',
    colors: http.logFormat === 'pretty',
    flattenParams: true,
  });
}

/**
 * Libraries that print straight to `console.warn` (BullMQ's "IMPORTANT! Eviction policy is ..." at connect) go
 * through Nest's logger instead, so every line of the app is in its configured format and level.
 */
export function routeConsoleWarnings(): void {
  const logger = new Logger('Library');
  console.warn = (...parts: unknown[]): void => logger.warn(parts.map(String).join(' '));
}
