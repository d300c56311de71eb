import { readFileSync } from 'node:fs';

/**
 * The five caching patterns with their apps' default ports, from the one list the apps use too
 * (`libs/common/src/patterns.json`).
 * @type {Record<string, number>}
 */
export const PATTERN_PORTS = JSON.parse(
  readFileSync(new URL('../../libs/common/src/patterns.json', import.meta.url), 'utf8'),
);

/** The pattern names, in order. */
export const PATTERNS = Object.keys(PATTERN_PORTS);
