import { type CanActivate, type ExecutionContext, Injectable, UnsupportedMediaTypeException } from '@nestjs/common';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

interface RequestHead {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A write that carries a body must say it is JSON: anything else (text, forms, multipart, no content type) is a
 * 415 instead of reaching a handler with no body parsed. Writes without a body (`POST /flush`) pass.
 */
@Injectable()
export class JsonContentTypeGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<RequestHead>();
    if (!WITH_BODY.has(request.method)) return true;
    const length = Number(request.headers['content-length'] ?? 0);
    const hasBody = length > 0 || request.headers['transfer-encoding'] !== undefined;
    const type = request.headers['content-type'];
    if (hasBody && (typeof type !== 'string' || !JSON_TYPE.test(type))) {
      throw new UnsupportedMediaTypeException('Send the body as JSON, with Content-Type: application/json');
    }
    return true;
  }
}
