import { readFileSync } from 'node:fs';

const SOURCE = new URL('../../libs/common/src/patterns.ts', import.meta.url);

/**
 * The five caching patterns with their apps' default ports, read from the apps' own list
 * (`PATTERN_PORTS` in `libs/common/src/patterns.ts`, a plain object literal; `patterns.spec.ts` checks that
 * this reads it right).
 * @type {Record<string, number>}
 */
export const PATTERN_PORTS = Object.fromEntries(
  [.../PATTERN_PORTS = \{([^}]*)\}/.exec(readFileSync(SOURCE, 'utf8'))[1].matchAll(/'([a-z-]+)':\s*(\d+)/g)].map(
    ([, name, port]) => [name, Number(port)],
  ),
);

/** The pattern names, in order. */
export const PATTERNS = Object.keys(PATTERN_PORTS);
