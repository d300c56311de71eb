/** A change committed in Postgres, as its outbox row and `NOTIFY` carry it. */
export interface CommittedChange {
  /** The outbox row (a bigint, kept as text). */
  outboxId: string;
  /** The record's id. */
  id: number;
  /** The new row's version, or for a deletion the deleted row's version + 1. */
  version: number;
  /** Insert, update or delete. */
  operation: 'I' | 'U' | 'D';
}

const OPERATIONS = new Set(['I', 'U', 'D']);

/** Decodes a `NOTIFY` payload (`[outboxId, id, version, operation]`); null when it is not one. */
export function parseChange(payload: string | undefined): CommittedChange | null {
  try {
    const [outboxId, id, version, operation] = JSON.parse(payload ?? '') as unknown[];
    if (!Number.isInteger(outboxId) || !Number.isInteger(id) || !Number.isInteger(version)) return null;
    if (typeof operation !== 'string' || !OPERATIONS.has(operation)) return null;
    return {
      outboxId: String(outboxId),
      id: id as number,
      version: version as number,
      operation: operation as CommittedChange['operation'],
    };
  } catch {
    return null;
  }
}

/**
 * Where committed changes are applied: the app's cache. The default applies them to the records' entries; an
 * app with more derived from each record (the blog's list chunks) provides its own as `InvalidationTarget`.
 */
export abstract class InvalidationTarget {
  /** True when {@link apply} may reach Redis. */
  abstract get writable(): boolean;

  /** Applies the changes, idempotently and never dropping a newer entry; throws when Redis fails. */
  abstract apply(changes: CommittedChange[]): Promise<void>;
}

/** The target used when an app provides no `InvalidationTarget`: the records' entries (`RecordEntries`). */
export const DEFAULT_INVALIDATION_TARGET = Symbol('DEFAULT_INVALIDATION_TARGET');
