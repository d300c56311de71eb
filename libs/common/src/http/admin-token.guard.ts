import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { HttpConfig } from '../config/config-slices';

/**
 * Protects admin endpoints. With `ADMIN_TOKEN` set the request must carry `Authorization: Bearer <ADMIN_TOKEN>`,
 * compared in constant time. Without it they are closed (403), unless `ADMIN_OPEN=true` opens them for a local
 * demo (which `npm start` does, and says so).
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected?: Buffer;
  private readonly open: boolean;

  constructor(config: HttpConfig) {
    this.expected = config.adminToken === undefined ? undefined : Buffer.from(config.adminToken);
    this.open = config.adminOpen;
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === undefined) {
      if (this.open) return true;
      throw new ForbiddenException(
        'Admin endpoints are closed: set ADMIN_TOKEN (then send Authorization: Bearer <token>), or ADMIN_OPEN=true for a local demo',
      );
    }
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/.exec(header) : null;
    const given = Buffer.from(match?.[1] ?? '');
    if (given.length !== this.expected.length || !timingSafeEqual(given, this.expected)) {
      throw new UnauthorizedException('Admin endpoint: send Authorization: Bearer <ADMIN_TOKEN>');
    }
    return true;
  }
}
