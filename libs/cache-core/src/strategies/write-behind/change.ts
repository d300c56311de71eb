import type { ChainableCommander } from 'ioredis';
import type { CacheableRecord } from '../../cache-strategy';

/** A stored row or tombstone, checked to be a record of `id` with a version. */
export function decodeRecord<T extends CacheableRecord>(json: string, id: number): T {
  const value = JSON.parse(json) as Partial<T> | null;
  if (value?.id !== id || !Number.isInteger(value.version)) throw new Error('not a record');
  return value as T;
}

/** A pipeline with the accept script on it. */
export interface ScriptPipeline extends ChainableCommander {
  wbAccept(...args: (string | number)[]): ScriptPipeline;
  wbPatch(...args: (string | number)[]): ScriptPipeline;
}

export type AcceptResult = 'ok' | 'retry' | 'conflict' | 'gone' | 'duplicate' | 'full';

/**
 * Why the one-step update did not happen: 'absent' means take the long way (read, then accept); 'full', that as
 * many records as `WRITE_BEHIND_MAX_PENDING` allows are pending and this one is not.
 */
export type PatchRefusal = 'absent' | 'gone' | 'precondition' | 'full';

/** One accepted change: the new row, or a deletion (the tombstone carries the next version). */
export type Change<T extends CacheableRecord> =
  { kind: 'put'; record: T } | { kind: 'delete'; id: number; version: number };
