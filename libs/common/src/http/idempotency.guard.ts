import { BadRequestException, type CanActivate, type ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { HttpConfig } from '../config/config-slices';
import { type IdempotencyClaim, IdempotencyLedger, replayFor } from '../idempotency/idempotency';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const KEY = /^[\x20-\x7e]{1,255}$/;

/** What the guard leaves on the request for {@link WriteConditions}. */
export interface IdempotentRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  idempotency?: IdempotencyClaim;
}

/**
 * `Idempotency-Key` on POST, PUT, PATCH and DELETE (IETF httpapi draft): the first successful outcome of a key
 * is stored atomically with the write (by the strategy, see `WriteOptions`), and a retry of the same request
 * replays it with `Idempotent-Replayed: true` instead of writing again. The same key with another request is
 * 422; while the first request is still running, 409. Keys are scoped per app (its own schema or key prefix)
 * and per route (method and path template). Requests without the header are untouched.
 *
 * A guard, not an interceptor: a route with an interceptor runs every request through Nest's RxJS pipeline,
 * and most writes carry no key. A stored outcome is thrown as `IdempotentReplay` (here, or by a strategy that
 * meets one under its lock) and `HttpErrorFilter` answers with it.
 */
@Injectable()
export class IdempotencyGuard implements CanActivate {
  constructor(
    private readonly ledger: IdempotencyLedger,
    private readonly config: HttpConfig,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<IdempotentRequest>();
    const header = request.headers['idempotency-key'];
    if (!WRITE_METHODS.has(request.method) || header === undefined) return true;
    const claim = this.claim(context, request, Array.isArray(header) ? header.join(',') : header);
    request.idempotency = claim;
    const stored = await this.ledger.storedOutcome(claim);
    if (stored !== null) throw replayFor(stored, claim);
    return true;
  }

  private claim(context: ExecutionContext, request: IdempotentRequest, header: string): IdempotencyClaim {
    const key = header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
    if (!KEY.test(key) || key.trim() === '') {
      throw new BadRequestException('Idempotency-Key must be 1 to 255 printable ASCII characters');
    }
    const route = [
      this.reflector.get<string | string[] | undefined>(PATH_METADATA, context.getClass()),
      this.reflector.get<string | string[] | undefined>(PATH_METADATA, context.getHandler()),
    ]
      .flat()
      .filter((part) => part !== undefined && part !== '/' && part !== '')
      .map((part) => String(part).replace(/^\/|\/$/g, ''))
      .join('/');
    const path = request.url.split('?')[0] ?? request.url;
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${path}\n${canonicalJson(request.body ?? null)}`)
      .digest('base64url');
    return { scope: `${request.method} /${route}`, key, fingerprint, ttlSeconds: this.config.idempotencyTtlSeconds };
  }
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Puts a write route under {@link IdempotencyGuard}, on each write method (reads need nothing of it). */
export function Idempotent(): MethodDecorator & ClassDecorator {
  return UseGuards(IdempotencyGuard);
}
