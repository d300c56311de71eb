import type { CacheKeys } from '../../redis/cache-keys';
import type { ScriptedRedis } from '../../redis/redis-scripts';

export interface ChangeLogStats {
  /** Changes accepted. */
  cachedWrites: number;
  /** Of them, changes of a record that was already pending (merged into its pending change). */
  coalesced: number;
  dbFlushes: number;
  /** Rows written to Postgres (a record changed during its flush is written again). */
  flushedRows: number;
  /** Records whose changes are in Postgres and left the log. */
  settled: number;
  /** Records in the dead letters now. */
  deadLettered: number;
  /** Records pending now. */
  pendingWrites: number;
  oldestPendingMs: number | null;
  lastFlush: string | null;
  /**
   * Records whose accepted changes vanished from Redis before they reached Postgres: found without a row by a
   * flush, or missing from the log's own accounting (see {@link ChangeLog.stats}). 0 unless Redis lost data.
   */
  missingChanges: number;
}

/**
 * The log's accounting: every record that entered the pending set (an accepted change that was not coalesced,
 * or a replayed dead letter) is pending, settled, dead-lettered, or found missing. Any difference is records
 * that vanished with the pending set (evicted or deleted); a negative one, counters that vanished.
 */
export function unaccountedRecords(counters: Record<string, string>, pending: number): number {
  const number = (name: string): number => Number(counters[name] ?? 0);
  const entered = number('cachedWrites') - number('coalesced') + number('replayed');
  const left = number('settled') + number('deadLetteredTotal') + number('missing');
  return entered - left - pending;
}

/**
 * The counters and the log's size, read in one MULTI (the log's keys share a slot), so the accounting is read
 * from one moment: see {@link unaccountedRecords}.
 */
export async function readChangeLogStats(redis: ScriptedRedis, log: CacheKeys['writeBehind']): Promise<ChangeLogStats> {
  const replies = await redis
    .multi()
    .hgetall(log.counters)
    .zcard(log.pending)
    .hlen(log.dead)
    .zrange(log.accepted, '0', '0', 'WITHSCORES')
    .exec();
  if (replies === null) throw new Error('The change log could not be read');
  const failed = replies.find(([error]) => error !== null)?.[0];
  if (failed) throw failed;
  const [counters, pending, deadLettered, oldest] = replies.map(([, value]) => value) as [
    Record<string, string>,
    number,
    number,
    string[],
  ];
  const number = (name: string): number => Number(counters[name] ?? 0);
  return {
    cachedWrites: number('cachedWrites'),
    coalesced: number('coalesced'),
    dbFlushes: number('dbFlushes'),
    flushedRows: number('flushedRows'),
    settled: number('settled'),
    deadLettered,
    pendingWrites: pending,
    oldestPendingMs: oldest[1] === undefined ? null : Math.max(0, Date.now() - Number(oldest[1])),
    lastFlush: counters.lastFlush ?? null,
    missingChanges: number('missing') + Math.abs(unaccountedRecords(counters, pending)),
  };
}
