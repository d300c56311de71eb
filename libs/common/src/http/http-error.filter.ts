import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { DomainError } from '../errors/domain.errors';

/** Body of every error response: Nest's usual shape, never a stack trace or SQL. */
export interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function reason(status: number): string {
  return REASONS[status] ?? (status < 500 ? 'Bad Request' : 'Error');
}

/**
 * The one place errors become HTTP responses: HttpExceptions (including the body parsers' 400 and 413) pass
 * through, {@link DomainError}s map to their status, other errors that carry a 4xx status keep it, and
 * anything else is a logged, generic 500.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const body = this.toBody(exception);
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), body, body.statusCode);
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
      if (exception.status >= 500) this.logger.warn(exception.message);
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
