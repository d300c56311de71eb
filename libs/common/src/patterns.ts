/**
 * The five caching patterns, in the order the project shows them, each with its app's default port. The one
 * list: the scripts and benches read this object from this file (`scripts/lib/patterns.mjs`, checked by
 * `patterns.spec.ts`), so keep it a plain object literal. A new pattern starts here (see the README's layout).
 */
export const PATTERN_PORTS = {
  'cache-aside': 8001,
  'read-through': 8002,
  'write-through': 8003,
  'write-behind': 8004,
  'refresh-ahead': 8005,
} as const;

/** One of the five patterns. */
export type CachingPattern = keyof typeof PATTERN_PORTS;

/** The pattern names, in order. */
export const CACHING_PATTERNS = Object.keys(PATTERN_PORTS) as CachingPattern[];
