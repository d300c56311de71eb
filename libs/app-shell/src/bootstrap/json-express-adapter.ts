import { refuseNonJsonBody } from '@app/common';
import { StreamableFile } from '@nestjs/common';
import {
  ExpressAdapter,
  type NestExpressBodyParserOptionsFor,
  type NestExpressBodyParserType,
} from '@nestjs/platform-express';
import express from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Nest's Express adapter with a shorter path for the common answer: a JSON body, on a response that has no
 * `Content-Type` yet, is stringified and ended in one call with the headers `res.json` would send (the same
 * `Content-Type`; Node adds `Content-Length`). It skips what `res.json` and `res.send` do that these answers
 * never need: a hash of the body for an ETag (off: ETags come from the record's version), the freshness check
 * (the controllers answer `If-None-Match` themselves), and parsing the `Content-Type` again to add its charset.
 * No body, 204 and 304, a stream, HEAD and a `Content-Type` already chosen go through Express as before.
 *
 * Bodies come in as JSON only: the JSON parser's middleware first answers 415 to a write whose body is anything
 * else ({@link refuseNonJsonBody}), and reads go past it without a look at their headers.
 */
export class JsonExpressAdapter extends ExpressAdapter {
  override useBodyParser<ParserType extends NestExpressBodyParserType>(
    type: ParserType,
    rawBody: boolean,
    options?: NestExpressBodyParserOptionsFor<ParserType>,
  ): this {
    if (type !== 'json' || rawBody) return super.useBodyParser(type, rawBody, options);
    const parse = express.json(options);
    this.use((request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => {
      if (request.method === 'GET' || request.method === 'HEAD') return next();
      const refusal = refuseNonJsonBody(request);
      if (refusal !== undefined) return next(refusal);
      parse(request, response, next);
    });
    return this;
  }

  override reply(response: ServerResponse & { req?: IncomingMessage }, body: unknown, statusCode?: number): unknown {
    const status = statusCode ?? response.statusCode;
    if (
      body === null ||
      typeof body !== 'object' ||
      body instanceof StreamableFile ||
      status === 204 ||
      status === 304 ||
      response.req?.method === 'HEAD' ||
      response.hasHeader('content-type')
    ) {
      return super.reply(response, body, statusCode);
    }
    response.statusCode = status;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    return response.end(JSON.stringify(body));
  }
}
