import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { WriteOptions } from '../idempotency/idempotency';
import { parseIfMatch, etagFor } from './conditional-requests';
import type { IdempotentRequest } from './idempotency.guard';
import type { IdempotencyClaim } from '../idempotency/idempotency';

/** A write's `If-Match` and `Idempotency-Key`, as the strategies take them. */
export class WriteConditions {
  constructor(
    readonly ifMatch: number[] | undefined,
    readonly idempotency: IdempotencyClaim | undefined,
  ) {}

  /**
   * The strategy's write options. `present` turns the written record into the response body (undefined for a
   * delete, answered with 204 and no body), which is what a retry with the same key is answered with.
   */
  options<T extends { version: number }>(status: number, present?: (record: T) => unknown): WriteOptions<T> {
    const claim = this.idempotency;
    return {
      ifMatch: this.ifMatch,
      idempotency:
        claim === undefined
          ? undefined
          : {
              ...claim,
              response: (record) =>
                record === undefined || present === undefined
                  ? { status, body: null }
                  : { status, body: present(record), etag: etagFor(record.version) },
            },
    };
  }
}

/** Injects the {@link WriteConditions} of the request (parses `If-Match`: a malformed one is a 400). */
export const Conditions = createParamDecorator((_: unknown, context: ExecutionContext): WriteConditions => {
  const request = context.switchToHttp().getRequest<IdempotentRequest>();
  return new WriteConditions(parseIfMatch(request.headers['if-match']), request.idempotency);
});
