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

/**
 * What a client can know about a write that failed on a dependency: `not-applied` when nothing reached the
 * dependency (safe to repeat as is), `unknown` when the command was sent and no answer came (repeat it with the
 * same `Idempotency-Key`, which makes the repeat safe).
 */
export type WriteOutcome = 'not-applied' | 'unknown';

/** A dependency (Postgres, Redis) that the request needs did not answer: 503 with `Retry-After`. */
export abstract class UnavailableError extends DomainError {
  readonly status = 503;
  constructor(
    message: string,
    /** Whether anything was sent before it failed; only meaningful for writes. */
    readonly outcome: WriteOutcome,
    /** The `Retry-After` the client gets. */
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

/** Postgres did not answer in time or refused the connection. */
export class DatabaseUnavailableError extends UnavailableError {
  constructor(message = 'Database unavailable, try again later', outcome: WriteOutcome = 'unknown') {
    super(message, outcome);
  }
}

/** Redis is needed for this operation (a write-behind write) and is not reachable. */
export class CacheUnavailableError extends UnavailableError {
  constructor(
    message = 'Cache unavailable: the write cannot be made durable, try again later',
    outcome: WriteOutcome = 'not-applied',
  ) {
    super(message, outcome);
  }
}

/**
 * Write-behind refuses the write before sending anything to Redis: Redis could lose it (an eviction policy that
 * may drop keys without a TTL) or has no room for it (pending changes or used memory past the high-water mark).
 */
export class WritesRefusedError extends UnavailableError {
  constructor(message: string, retryAfterSeconds: number) {
    super(message, 'not-applied', retryAfterSeconds);
  }
}

/** `If-Match` named a version the record no longer has: someone else changed it first. */
export class PreconditionFailedError extends DomainError {
  readonly status = 412;
}

/** The same `Idempotency-Key` is being used by a request that is still running. */
export class IdempotencyKeyInUseError extends DomainError {
  readonly status = 409;
  constructor() {
    super('A request with this Idempotency-Key is still being processed; retry once it has finished');
  }
}

/** The same `Idempotency-Key` was first used with another request (another body, method or path). */
export class IdempotencyKeyReusedError extends DomainError {
  readonly status = 422;
  constructor() {
    super('This Idempotency-Key was already used with a different request');
  }
}

/** The request is well-formed but asks for nothing, or for something the domain cannot do (400). */
export class InvalidInputError extends DomainError {
  readonly status = 400;
}

/** The app is shutting down and accepts no more writes; another instance (or this one, restarted) will. */
export class ShuttingDownError extends UnavailableError {
  constructor() {
    super('Shutting down: not accepting writes', 'not-applied');
  }
}

/** `POST /flush?wait=true` gave up waiting: the changes are still pending, and will be flushed. */
export class FlushTimeoutError extends DomainError {
  readonly status = 503;
}
