import { UnsupportedMediaTypeException } from '@nestjs/common';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** What of a request the rule reads: Node's `IncomingMessage`, Express's and Fastify's requests all have it. */
export interface RequestHead {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Whether the request carries a body at all (a length above 0, or a chunked one). */
export function carriesBody({ headers }: RequestHead): boolean {
  return Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined;
}

/**
 * A write that carries a body must say it is JSON: anything else (text, forms, multipart, no content type) is a
 * 415 instead of reaching a handler with no body parsed. Writes without a body (`POST /flush`) pass, and so does
 * every read. Returns the 415 to answer, or undefined. The HTTP adapters call it where they parse bodies
 * (`JsonExpressAdapter`, and Fastify's catch-all content-type parser in `createApp`), so reads pay nothing for it.
 */
export function refuseNonJsonBody(request: RequestHead): UnsupportedMediaTypeException | undefined {
  if (request.method === undefined || !WITH_BODY.has(request.method) || !carriesBody(request)) return undefined;
  const type = request.headers['content-type'];
  if (typeof type === 'string' && JSON_TYPE.test(type)) return undefined;
  return new UnsupportedMediaTypeException('Send the body as JSON, with Content-Type: application/json');
}
