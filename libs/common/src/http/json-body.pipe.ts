import {
  BadRequestException,
  type ArgumentMetadata,
  Injectable,
  type PipeTransform,
  ValidationPipe,
} from '@nestjs/common';

/** Deeper bodies are refused before validation walks them (recursive validators overflow the stack). */
export const MAX_BODY_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** NUL (Postgres text cannot hold it) or a UTF-16 surrogate without its pair (not Unicode text at all). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The app's one global pipe, and it only looks at bodies (every other parameter passes untouched, so a read runs
 * no validation at all). It first holds every body to rules that must hold before any validator or store sees
 * it: a JSON object, nested at most {@link MAX_BODY_DEPTH} levels, no prototype-polluting keys, and only strings
 * that every store can keep (no NUL, no lone surrogate: Postgres and Redis's Lua JSON decoder refuse them). Each
 * violation is a 400 naming where it is. The walk is iterative, so depth itself cannot overflow the stack. Then
 * it validates the body against its DTO class with class-validator (unknown properties refused), and passes the
 * body on as parsed: route params stay strings for their own pipes.
 */
@Injectable()
export class JsonBodyPipe implements PipeTransform {
  private readonly validation = new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: false,
    stopAtFirstError: false,
  });

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'body') return value;
    this.holdToShape(value);
    return this.validated(value, metadata);
  }

  private holdToShape(value: unknown): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BadRequestException('The body must be a JSON object, sent with Content-Type: application/json');
    }
    const pending: { node: unknown; path: string; depth: number }[] = [{ node: value, path: '', depth: 1 }];
    while (pending.length > 0) {
      const { node, path, depth } = pending.pop()!;
      if (typeof node === 'string') {
        if (UNSTORABLE.test(node)) {
          throw new BadRequestException(`${path || 'body'} must be valid Unicode text without NUL characters`);
        }
        continue;
      }
      if (node === null || typeof node !== 'object') continue;
      if (depth > MAX_BODY_DEPTH) throw new BadRequestException(`The body nests deeper than ${MAX_BODY_DEPTH} levels`);
      for (const [key, child] of Object.entries(node)) {
        const at = Array.isArray(node) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
        if (FORBIDDEN_KEYS.has(key)) throw new BadRequestException(`${at} is not allowed`);
        if (UNSTORABLE.test(key)) throw new BadRequestException(`${at.replace(UNSTORABLE, '?')} is not a valid key`);
        pending.push({ node: child, path: at, depth: depth + 1 });
      }
    }
  }

  private async validated(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    await this.validation.transform(value, metadata);
    // The body as parsed, not the copy ValidationPipe makes back from its DTO instance (class-transformer's
    // `classToPlain`, a second walk of every body): no body DTO transforms a value, and an unknown property is
    // refused (`forbidNonWhitelisted`), never stripped, so the two are the same.
    return value;
  }
}
