import type { ServerResponse } from 'node:http';

/** Express' response is Node's own; Fastify's reply wraps it in `raw`. */
export type AnyResponse = ServerResponse | { raw: ServerResponse; hijack(): unknown };

/**
 * Node's response, for writing a stream by hand on either adapter. On Fastify the reply is hijacked first, so
 * Fastify does not answer a second time.
 */
export function takeRawResponse(response: AnyResponse): ServerResponse {
  if ('hijack' in response) {
    response.hijack();
    return response.raw;
  }
  return response;
}
