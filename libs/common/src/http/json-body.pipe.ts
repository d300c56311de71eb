import {
  BadRequestException,
  type ArgumentMetadata,
  Injectable,
  type PipeTransform,
  ValidationPipe,
} from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidatorOptions } from 'class-validator';

/** Deeper bodies are refused before validation walks them (recursive validators overflow the stack). */
export const MAX_BODY_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** NUL (Postgres text cannot hold it) or a UTF-16 surrogate without its pair (not Unicode text at all). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Body types ValidationPipe passes through unvalidated (its `toValidate`): no class, no rules. */
const UNVALIDATED_TYPES = new Set<unknown>([String, Boolean, Number, Array, Object, Buffer, Date]);

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
  private static readonly RULES: ValidatorOptions = {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    stopAtFirstError: false,
  };
  private readonly validation = new ValidationPipe({ ...JsonBodyPipe.RULES, transform: false });

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'body') return value;
    this.holdToShape(value);
    return this.validated(value as object, metadata);
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

  /**
   * A valid body costs one class-transformer copy and one class-validator run, with the same rules as
   * ValidationPipe. What ValidationPipe adds around them (closing array gaps, stripping prototype keys, stand-ins
   * for primitive and binary values, a search for nested binary values) cannot apply to a JSON object that passed
   * `holdToShape`, and cost as much again: the body's validation took 15 % of a write-behind PATCH's CPU through
   * ValidationPipe, 7 % this way (`npm run bench:profile -- fastify write-behind writes`). An invalid body goes to
   * ValidationPipe itself, so a 400 lists the same messages (the spec holds the two to the same answers).
   */
  private async validated(value: object, metadata: ArgumentMetadata): Promise<unknown> {
    const { metatype } = metadata;
    if (metatype === undefined || UNVALIDATED_TYPES.has(metatype)) return value;
    const errors = await validate(plainToInstance(metatype, value) as object, JsonBodyPipe.RULES);
    if (errors.length > 0) await this.validation.transform(value, metadata);
    // The body as parsed, not the copy ValidationPipe makes back from its DTO instance (class-transformer's
    // `classToPlain`, a second walk of every body): no body DTO transforms a value, and an unknown property is
    // refused (`forbidNonWhitelisted`), never stripped, so the two are the same.
    return value;
  }
}
