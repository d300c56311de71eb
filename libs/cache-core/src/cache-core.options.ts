/** How an app's cache is configured; `CacheCoreModule.forRoot` takes these (usually from `AppConfig`). */
export interface CacheCoreOptions {
  redisUrl: string;
  /** Starts every key of this app, e.g. `cache-aside:`. */
  keyPrefix: string;
  /** A cache command slower than this fails, and the request goes on without Redis. */
  commandTimeoutMs: number;
  /** The same for commands on the write path, whose timeout leaves a write's outcome unknown. */
  writeTimeoutMs: number;
  /** Consecutive failed reads after which reads skip Redis for a while; 0 turns the breaker off. */
  breakerFailures?: number;
  ttlSeconds: number;
  /** Fraction of the TTL taken off at random (0.1 = up to 10% shorter). */
  ttlJitter: number;
  /** How long a missing id is cached as absent, by strategies that do negative caching. */
  negativeTtlSeconds: number;
  /** How long a reader may take between a miss and its fill; a slower fill is dropped. */
  leaseTtlMs?: number;
}

export const CACHE_CORE_OPTIONS = Symbol('CACHE_CORE_OPTIONS');
