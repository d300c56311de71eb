/**
 * Typed argument lists for the change log's many-key scripts. Each script's KEYS and ARGV are declared here once,
 * by name and in the order of the script's own header (`redis/commands/<name>.lua`), and built from objects that
 * name every slot, so no positional list of two dozen items is ever written by hand. The key count in each
 * script's file name (`wb-accept-13`) must match the length of its KEYS list; `change-log-scripts.spec.ts`
 * checks both against the scripts' headers.
 */

type Slots<Names extends readonly string[], V> = { readonly [Name in Names[number]]: V };

/** The values of `names`, in order. */
function inOrder<Names extends readonly string[], V>(names: Names, values: Slots<Names, V>): V[] {
  return names.map((name: Names[number]) => values[name]);
}

export const ACCEPT_KEYS = [
  'entry',
  'lease',
  'tombstone',
  'pending',
  'accepted',
  'unique',
  'counters',
  'claimed',
  'ownerEntry',
  'ownerTombstone',
  'dead',
  'idempotency',
  'flushedClaim',
] as const;
export const ACCEPT_ARGV = [
  'id',
  'kind',
  'payload',
  'expectedVersion',
  'nextUnique',
  'previousUnique',
  'postgresOwner',
  'now',
  'answer',
  'answerTtlMs',
  'channel',
  'maxPending',
] as const;

/** `wb-accept-13`: one change with its unique-value claim and idempotent answer. */
export function acceptArgs(
  keys: Slots<typeof ACCEPT_KEYS, string>,
  argv: Slots<typeof ACCEPT_ARGV, string | number>,
): (string | number)[] {
  return [...inOrder(ACCEPT_KEYS, keys), ...inOrder(ACCEPT_ARGV, argv)];
}

export const PATCH_KEYS = [
  'entry',
  'lease',
  'tombstone',
  'pending',
  'accepted',
  'counters',
  'claimed',
  'dead',
] as const;
export const PATCH_ARGV = ['id', 'fields', 'ifMatch', 'now', 'channel', 'maxPending'] as const;

/** `wb-patch-8`: fields merged into the row in Redis, and logged. */
export function patchArgs(
  keys: Slots<typeof PATCH_KEYS, string>,
  argv: Slots<typeof PATCH_ARGV, string | number>,
): (string | number)[] {
  return [...inOrder(PATCH_KEYS, keys), ...inOrder(PATCH_ARGV, argv)];
}

export const FAIL_KEYS = ['pending', 'attempts', 'dead', 'claimed', 'counters', 'accepted'] as const;
export const FAIL_ARGV = ['id', 'reason', 'version', 'maxAttempts', 'now', 'backoffMs', 'jitter'] as const;

/** `wb-fail-6`: a flush Postgres refused, retried later or dead-lettered. */
export function failArgs(
  keys: Slots<typeof FAIL_KEYS, string>,
  argv: Slots<typeof FAIL_ARGV, string | number>,
): (string | number)[] {
  return [...inOrder(FAIL_KEYS, keys), ...inOrder(FAIL_ARGV, argv)];
}
