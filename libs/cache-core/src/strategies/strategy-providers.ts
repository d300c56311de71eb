import { IdempotencyLedger } from '@app/common';
import type { Provider, Type } from '@nestjs/common';
import { CacheStrategy } from '../cache-strategy';

/**
 * A strategy class registered by its own type (for its helpers and controllers) and as the app's one
 * `CacheStrategy` and `IdempotencyLedger` (for the domain's service and the idempotency guard).
 */
export function strategyProviders(strategy: Type<CacheStrategy>): Provider[] {
  return [
    strategy,
    { provide: CacheStrategy, useExisting: strategy },
    { provide: IdempotencyLedger, useExisting: strategy },
  ];
}

/** What every strategy module exports. */
export const STRATEGY_EXPORTS = [CacheStrategy, IdempotencyLedger];
