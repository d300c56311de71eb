import type { PatternName } from '@app/cache-core';
import type { ConfigSlices } from '@app/common';
import type { Type } from '@nestjs/common';

/** One runnable app: its static root module and what its `main.ts` needs to start it. */
export interface AppDefinition {
  /** Names the app's default schema, key prefix, logger and connections. */
  name: string;
  defaultPort: number;
  module: Type;
  /** The OpenAPI document's description. */
  description: string;
  /** When true for a configuration, the app runs without HTTP (a worker process). */
  headless?: (config: ConfigSlices) => boolean;
}

/** A users app bound to one caching pattern (or the no-cache baseline). */
export interface PatternAppDefinition extends AppDefinition {
  pattern: PatternName;
}

/** The definition of the users app for `pattern`, named after it. */
export function patternApp(
  pattern: PatternName,
  definition: Omit<PatternAppDefinition, 'name' | 'pattern' | 'description'>,
): PatternAppDefinition {
  return {
    name: pattern,
    pattern,
    description: `Users behind the ${pattern} caching pattern, over PostgreSQL and Redis.`,
    ...definition,
  };
}
