import defaultPorts from './patterns.json';

/**
 * The five caching patterns, in the order the project shows them, each with its app's default port. The list
 * lives in `patterns.json` so that the scripts and benches (`scripts/lib/patterns.mjs`) read the same one; a
 * new pattern starts there (see the README's layout section).
 */
export const PATTERN_PORTS: Readonly<Record<CachingPattern, number>> = defaultPorts;

/** One of the five patterns. */
export type CachingPattern = keyof typeof defaultPorts;

/** The pattern names, in order. */
export const CACHING_PATTERNS = Object.keys(defaultPorts) as CachingPattern[];
