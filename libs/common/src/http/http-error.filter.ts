import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { DomainError, UnavailableError, type WriteOutcome, WritesRefusedError } from '../errors/domain.errors';
import { IdempotentReplay } from '../idempotency/idempotency';

/** Body of every error response: Nest's usual shape, never a stack trace or SQL. */
export interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error: string;
  /** On a 503 to a write: whether the write was not applied, or may have been. */
  outcome?: WriteOutcome;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Seconds a client should wait before repeating a request that met an unavailable dependency. */
const RETRY_AFTER_SECONDS = '1';

const OUTCOME_MESSAGES: Record<WriteOutcome, string> = {
  'not-applied': 'The write was not applied; repeating it is safe.',
  unknown:
    'The outcome of this write is unknown: it may have been applied. Repeating it with the same Idempotency-Key is ' +
    'safe (the first outcome is replayed if it was applied).',
};

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function reason(status: number): string {
  return REASONS[status] ?? (status < 500 ? 'Bad Request' : 'Error');
}

/**
 * The one place errors become HTTP responses (and the replay of an idempotent write's stored outcome, thrown as
 * {@link IdempotentReplay}): HttpExceptions (including the body parsers' 400 and 413) pass
 * through, {@link DomainError}s map to their status, other errors that carry a 4xx status keep it, and
 * anything else is a logged, generic 500.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response: unknown = http.getResponse();
    const adapter = this.adapterHost.httpAdapter;
    if (exception instanceof IdempotentReplay) {
      // Not an error: a retry of a write whose first outcome is stored gets that outcome again.
      const { status, body, etag } = exception.stored;
      adapter.setHeader(response, 'Idempotent-Replayed', 'true');
      if (etag !== undefined) adapter.setHeader(response, 'ETag', etag);
      adapter.reply(response, body ?? undefined, status);
      return;
    }
    const body = this.toBody(exception);
    if (body.statusCode === 503) {
      const retryAfter = exception instanceof UnavailableError ? String(exception.retryAfterSeconds) : null;
      adapter.setHeader(response, 'Retry-After', retryAfter ?? RETRY_AFTER_SECONDS);
      const method = http.getRequest<{ method?: string }>().method ?? '';
      if (exception instanceof UnavailableError && WRITE_METHODS.has(method)) {
        body.outcome = exception.outcome;
        body.message = `${exception.message}. ${OUTCOME_MESSAGES[exception.outcome]}`;
      }
    }
    adapter.reply(response, body, body.statusCode);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const payload = exception.getResponse();
      const message =
        typeof payload === 'object' && 'message' in payload
          ? (payload as { message: string | string[] }).message
          : exception.message;
      return { statusCode: status, message, error: reason(status) };
    }
    if (exception instanceof DomainError) {
      // A refused write is logged once where the refusal starts (a line per refused request would flood the log).
      if (exception.status >= 500 && !(exception instanceof WritesRefusedError)) this.logger.warn(exception.message);
      return { statusCode: exception.status, message: exception.message, error: reason(exception.status) };
    }
    const status = (exception as { statusCode?: unknown; status?: unknown } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { statusCode: status, message: reason(status), error: reason(status) };
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error', error: reason(500) };
  }
}
