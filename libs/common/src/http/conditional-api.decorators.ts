import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';

/** OpenAPI for a read that answers `If-None-Match`. */
export function ApiConditionalRead(): MethodDecorator {
  return applyDecorators(
    ApiHeader({ name: 'If-None-Match', required: false, description: 'ETags; a match answers 304 with no body' }),
    ApiResponse({ status: 200, description: 'The record; `ETag` is its version', headers: { ETag: {} } }),
    ApiResponse({ status: 304, description: 'Not modified: the ETag sent is current (no body)' }),
  );
}

/** OpenAPI for a write that takes `Idempotency-Key`, and `If-Match` when `conditional`. */
export function ApiConditionalWrite(conditional: boolean): MethodDecorator {
  return applyDecorators(
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Any 1–255 printable ASCII characters. The first successful answer is stored with the write and replayed ' +
        '(with `Idempotent-Replayed: true`) to a repeat of the same request; the same key with another request is ' +
        '422, and while the first is still running 409.',
    }),
    ...(conditional
      ? [
          ApiHeader({
            name: 'If-Match',
            required: false,
            description: 'ETag(s) from a read; the write happens only if the record still has one of them',
          }),
          ApiResponse({ status: 412, description: 'Precondition failed: the record changed since that ETag' }),
        ]
      : []),
    ApiResponse({ status: 409, description: 'Conflict, or this Idempotency-Key is still being processed' }),
    ApiResponse({ status: 422, description: 'This Idempotency-Key was used with a different request' }),
    ApiResponse({
      status: 503,
      description:
        'A dependency did not answer (`Retry-After` says when to retry). `outcome` is `not-applied` (nothing was ' +
        'written: repeat as is) or `unknown` (repeat with the same Idempotency-Key, which is safe)',
    }),
  );
}
