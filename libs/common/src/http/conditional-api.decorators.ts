import { applyDecorators, type Type } from '@nestjs/common';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';

/** An OpenAPI response header; `required` ones are sent with every such response (a test checks it). */
export interface ResponseHeader {
  description: string;
  required: boolean;
  schema: { type: 'string' };
}

export function responseHeader(description: string, required = true): ResponseHeader {
  return { description, required, schema: { type: 'string' } };
}

const ETAG = responseHeader("The record's version, quoted: send it back in `If-None-Match` or `If-Match`");
const REPLAYED = responseHeader('`true` when this is the stored answer to an earlier request with the same key', false);

/** The headers that say how the cache answered a read of one record. */
export const CACHE_READ_HEADERS: Record<string, ResponseHeader> = {
  'X-Cache': responseHeader(
    'HIT, MISS, BYPASS when Redis is unavailable, STALE for a grace copy; `HIT; tier=near` from the near cache',
  ),
  'Cache-Status': responseHeader(
    'RFC 9211, the cache named by its pattern: `cache-aside; hit; ttl=290`, `cache-aside; fwd=miss; stored`, ' +
      "`…; fwd=miss; collapsed` (shared another read's load), `…; fwd=bypass`, or a grace copy past its TTL " +
      '`…; hit; fwd=stale; ttl=-12; detail=stale-if-error` (Postgres failed) or `detail=soft-timeout` (Postgres slow)',
  ),
  Age: responseHeader(
    'A grace copy only: seconds since it was stored (its TTL before jitter, plus its staleness)',
    false,
  ),
};

/** OpenAPI for a read of one record that answers `If-None-Match`; `headers` are sent with both answers. */
export function ApiConditionalRead(type: Type, headers: Record<string, ResponseHeader> = {}): MethodDecorator {
  return applyDecorators(
    ApiHeader({ name: 'If-None-Match', required: false, description: 'ETags; a match answers 304 with no body' }),
    ApiResponse({ status: 200, type, description: 'The record', headers: { ETag: ETAG, ...headers } }),
    ApiResponse({
      status: 304,
      description: 'Not modified: the ETag sent is current (no body)',
      headers: { ETag: ETAG, ...headers },
    }),
  );
}

/**
 * OpenAPI for a write that takes `Idempotency-Key`, and `If-Match` when `conditional`; `success` is its answer
 * (the record with its `ETag`, or no body).
 */
export function ApiConditionalWrite(conditional: boolean, success: { status: number; type?: Type }): MethodDecorator {
  return applyDecorators(
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Any 1–255 printable ASCII characters. The first successful answer is stored with the write and replayed ' +
        '(with `Idempotent-Replayed: true`) to a repeat of the same request; the same key with another request is ' +
        '422, and while the first is still running 409.',
    }),
    ApiResponse({
      status: success.status,
      type: success.type,
      description: success.type === undefined ? 'Done (no body)' : 'The record as written',
      headers:
        success.type === undefined
          ? { 'Idempotent-Replayed': REPLAYED }
          : { ETag: ETAG, 'Idempotent-Replayed': REPLAYED },
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
      headers: { 'Retry-After': responseHeader('Seconds to wait before retrying') },
    }),
  );
}
