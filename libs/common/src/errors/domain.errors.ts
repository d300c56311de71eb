/** Base for errors that services throw and {@link HttpErrorFilter} maps to an HTTP status. */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The record does not exist (or was deleted). */
export class NotFoundError extends DomainError {
  readonly status = 404;
}

/** A unique value (such as an email) is already taken. */
export class ConflictError extends DomainError {
  readonly status = 409;
}

/** Postgres did not answer in time or refused the connection. */
export class DatabaseUnavailableError extends DomainError {
  readonly status = 503;
  constructor(message = 'Database unavailable, try again later') {
    super(message);
  }
}

/** Redis is needed for this operation (a write-behind write) and is not reachable. */
export class CacheUnavailableError extends DomainError {
  readonly status = 503;
  constructor(message = 'Cache unavailable: the write cannot be made durable, try again later') {
    super(message);
  }
}
