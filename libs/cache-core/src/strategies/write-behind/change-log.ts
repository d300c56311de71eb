import { CacheConfig, CacheUnavailableError } from '@app/common';
import { Injectable } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import type { CacheableRecord } from '../../cache-strategy';
import { CacheKeys } from '../../redis/cache-keys';
import { RedisConnections } from '../../redis/redis-connections';
import type { ScriptedRedis } from '../../redis/redis-scripts';

/**
 * How long a flushed record's claim on its unique value is remembered after it leaves the claims hash: longer
 * than an accept takes between asking Postgres for the value's owner and running its script (a statement and a
 * Redis write, each bounded by its timeout: 5 s and 2 s by default), and short, since it is memory a full Redis
 * gets back only when it expires.
 */
const FLUSHED_CLAIM_TTL_MS = 30_000;

/** A stored row or tombstone, checked to be a record of `id` with a version. */
function decodeRecord<T extends CacheableRecord>(json: string, id: number): T {
  const value = JSON.parse(json) as Partial<T> | null;
  if (value?.id !== id || !Number.isInteger(value.version)) throw new Error('not a record');
  return value as T;
}

/** A pipeline with the accept script on it. */
interface ScriptPipeline extends ChainableCommander {
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

export interface DeadLetter {
  id: number;
  version: number;
  reason: string;
  attempts: number;
  failedAt: string;
}

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
 * Write-behind's durable log of accepted, unflushed changes, in the app's Redis: shared by every API and
 * worker process of the app. Each multi-key step is one Lua script (`commands/wb-*.lua`; today they need a
 * single hash slot, see the slot layout in `CacheKeys`), and every step is idempotent, so a worker that dies
 * anywhere leaves nothing lost or doubled. None of its keys has a TTL while a change waits (see `log-change.lua`).
 */
@Injectable()
export class ChangeLog {
  private readonly redis: ScriptedRedis;
  private readonly logKeys: CacheKeys['writeBehind'];
  /** Replicas the log's master had at the last accepted write (cluster only). */
  private knownReplicas = Number.POSITIVE_INFINITY;

  constructor(
    connections: RedisConnections,
    private readonly keys: CacheKeys,
    private readonly config: CacheConfig,
  ) {
    this.redis = connections.writer;
    this.logKeys = keys.writeBehind;
  }

  /**
   * Records a change durably (throws if Redis cannot be reached: the caller must not acknowledge it).
   * `uniqueOwner` is who holds the new unique key in Postgres, if known. `answer`: an idempotency record to
   * store with the change (`key`, the serialized answer, its TTL).
   */
  async accept<T extends CacheableRecord>(
    change: Change<T>,
    expectedVersion: number,
    unique: { next: string | null; previous: string | null; postgresOwner: number | null },
    answer?: { key: string; value: string; ttlMs: number },
    maxPending = 0,
  ): Promise<AcceptResult> {
    const id = change.kind === 'put' ? change.record.id : change.id;
    const payload = change.kind === 'put' ? change.record : { id, version: change.version, deleted: true };
    const owner = unique.postgresOwner ?? id;
    const args = [
      this.keys.entry(id),
      this.keys.lease(id),
      this.keys.tombstone(id),
      this.logKeys.pending,
      this.logKeys.accepted,
      this.logKeys.unique,
      this.logKeys.counters,
      this.logKeys.claimed,
      this.keys.entry(owner),
      this.keys.tombstone(owner),
      this.logKeys.dead,
      answer?.key ?? this.keys.noIdempotency,
      this.keys.flushedClaim(unique.next ?? ''),
      id,
      change.kind,
      JSON.stringify(payload),
      expectedVersion,
      unique.next ?? '',
      unique.previous ?? '',
      unique.postgresOwner ?? '',
      Date.now(),
      answer?.value ?? '',
      answer?.ttlMs ?? 0,
      this.logKeys.changes,
      maxPending,
    ];
    return (await this.durably('wbAccept', args, (result) => result === 'ok')) as AcceptResult;
  }

  /**
   * Merges `fields` into the record's row in Redis and logs the change, in one script and one round trip (no
   * compare-and-set: the script reads and writes the row atomically). For changes that keep the unique key and
   * carry no idempotency key. `ifMatch`: the versions the change may be based on. Returns the new row, or why
   * not: 'absent' (no row in Redis to merge into, or one it cannot decode: take the long way), 'gone',
   * 'precondition'. Throws if Redis cannot be reached: the caller must not acknowledge anything.
   */
  async patch<T extends CacheableRecord>(
    id: number,
    fields: Partial<T>,
    ifMatch: readonly number[] | undefined,
    maxPending = 0,
  ): Promise<T | PatchRefusal> {
    const args = [
      this.keys.entry(id),
      this.keys.lease(id),
      this.keys.tombstone(id),
      this.logKeys.pending,
      this.logKeys.accepted,
      this.logKeys.counters,
      this.logKeys.claimed,
      this.logKeys.dead,
      id,
      JSON.stringify(fields),
      ifMatch?.join(',') ?? 'any',
      Date.now(),
      this.logKeys.changes,
      maxPending,
    ];
    const result = await this.durably('wbPatch', args, (answer) => answer.startsWith('{'));
    return result.startsWith('{') ? decodeRecord<T>(result, id) : (result as PatchRefusal);
  }

  /**
   * Runs an accepting script. On a cluster with `REDIS_WAIT_REPLICAS`, the script, WAIT and ROLE go in one
   * pipeline to the master of the log's slot, and a change (`accepted(result)`) counts as durable only once
   * the replicas have it: WAIT counts the replicas of that master that have the change, so a failover that
   * promotes one of them loses nothing. It waits for as many as the master had at the last write (ROLE), at
   * most REDIS_WAIT_REPLICAS: right after a failover the new master has none until the old one rejoins, and
   * writes go on meanwhile, durable on the new master alone (see docs/consistency.md).
   */
  private async durably(
    script: 'wbAccept' | 'wbPatch',
    args: (string | number)[],
    accepted: (result: string) => boolean,
  ): Promise<string> {
    if (!this.config.cluster || this.config.waitReplicas === 0) return this.redis[script](...args);
    const wanted = Math.min(this.config.waitReplicas, this.knownReplicas);
    const [[scriptError, result], [waitError, replicas], [, role]] = (await (
      this.redis.pipeline() as unknown as ScriptPipeline
    )
      [script](...args)
      .wait(wanted, this.config.waitTimeoutMs)
      .role()
      .exec()) as [[Error | null, string], [Error | null, number], [Error | null, unknown[] | undefined]];
    if (Array.isArray(role) && role[0] === 'master' && Array.isArray(role[2])) this.knownReplicas = role[2].length;
    if (scriptError) throw scriptError;
    if (accepted(result) && (waitError || replicas < wanted)) {
      throw new CacheUnavailableError('Cache replicas did not confirm the write in time', 'unknown');
    }
    return result;
  }

  async claim(limit: number, claimTimeoutMs: number): Promise<number[]> {
    const ids = await this.redis.wbClaim(this.logKeys.pending, this.logKeys.claimed, Date.now(), limit, claimTimeoutMs);
    return ids.map(Number);
  }

  /**
   * The current state of claimed ids: the row, or the deletion; ids with neither are skipped, and ids whose
   * stored value cannot be decoded are returned apart (`undecodable`) so they cannot hold up the others.
   */
  async read<T extends CacheableRecord>(ids: number[]): Promise<{ changes: Change<T>[]; undecodable: number[] }> {
    if (ids.length === 0) return { changes: [], undecodable: [] };
    const values = await this.redis.mget(ids.flatMap((id) => [this.keys.entry(id), this.keys.tombstone(id)]));
    const changes: Change<T>[] = [];
    const undecodable: number[] = [];
    ids.forEach((id, index) => {
      const row = values[2 * index];
      const tombstone = values[2 * index + 1];
      try {
        if (row) changes.push({ kind: 'put', record: decodeRecord<T>(row, id) });
        else if (tombstone) changes.push({ kind: 'delete', id, version: decodeRecord(tombstone, id).version });
      } catch {
        undecodable.push(id);
      }
    });
    return { changes, undecodable };
  }

  /**
   * Takes flushed records out of the log (version-checked) and counts the flush (`rowsWritten`, one flush when
   * more than 0). `ttlMs` is what their rows keep as cache entries (0: deleted now, for a Redis short of memory).
   * Returns how many records claimed by this flush had lost their change (no row, no tombstone): those were
   * never written, and are counted as missing.
   */
  async ack(
    flushed: { id: number; version: number; unique?: string | null }[],
    rowsWritten: number,
    ttlMs: number,
  ): Promise<{ missing: number }> {
    if (flushed.length === 0) return { missing: 0 };
    const keys = flushed.flatMap(({ id, unique }) => [
      this.keys.entry(id),
      this.keys.tombstone(id),
      this.keys.flushedClaim(unique ?? ''),
    ]);
    const args = flushed.flatMap(({ id, version, unique }) => [id, version, unique ?? '']);
    const [, missing] = await this.redis.wbAck(
      6 + keys.length,
      this.logKeys.pending,
      this.logKeys.accepted,
      this.logKeys.attempts,
      this.logKeys.claimed,
      this.logKeys.counters,
      this.logKeys.unique,
      ...keys,
      ttlMs,
      this.config.ttlSeconds * 1000,
      Date.now(),
      rowsWritten,
      new Date().toISOString(),
      FLUSHED_CLAIM_TTL_MS,
      ...args,
    );
    return { missing };
  }

  fail(id: number, version: number, reason: string, maxAttempts: number, backoffMs: number): Promise<string> {
    return this.redis.wbFail(
      this.logKeys.pending,
      this.logKeys.attempts,
      this.logKeys.dead,
      this.logKeys.claimed,
      this.logKeys.counters,
      this.logKeys.accepted,
      id,
      reason.slice(0, 500),
      version,
      maxAttempts,
      Date.now(),
      backoffMs,
      Math.random(),
    );
  }

  async release(ids: number[], delayMs: number): Promise<void> {
    if (ids.length > 0)
      await this.redis.wbRelease(this.logKeys.pending, this.logKeys.claimed, Date.now() + delayMs, ...ids);
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const entries = await this.redis.hvals(this.logKeys.dead);
    return entries
      .map((entry) => JSON.parse(entry) as Omit<DeadLetter, 'failedAt'> & { failedAt: number })
      .map((entry) => ({ ...entry, failedAt: new Date(entry.failedAt).toISOString() }))
      .sort((a, b) => a.id - b.id);
  }

  /** Sends dead letters (all, or the ids given) back to be flushed; returns how many. */
  async replay(ids?: number[]): Promise<number> {
    const targets = ids ?? (await this.redis.hkeys(this.logKeys.dead)).map(Number);
    if (targets.length === 0) return 0;
    await this.redis.hdel(this.logKeys.attempts, ...targets.map(String));
    return this.redis.wbReplay(
      this.logKeys.pending,
      this.logKeys.accepted,
      this.logKeys.dead,
      this.logKeys.counters,
      Date.now(),
      ...targets,
    );
  }

  /** True once no change accepted at or before `acceptedBefore` is still waiting (dead letters aside). */
  async flushedUpTo(acceptedBefore: number): Promise<boolean> {
    return (await this.redis.zcount(this.logKeys.accepted, '-inf', acceptedBefore)) === 0;
  }

  /** True while some change is eligible to be flushed now. */
  async hasEligible(): Promise<boolean> {
    return (await this.redis.zcount(this.logKeys.pending, '-inf', Date.now())) > 0;
  }

  /**
   * Repairs the log after Redis lost part of it: accepted records missing from the pending set are put back when
   * their rows are still in Redis, and counted as missing otherwise (see `wb-reconcile.lua`). Run when the
   * accounting does not add up; returns what it did.
   */
  async reconcile(): Promise<{ recovered: number; missing: number }> {
    const page = 500;
    let recovered = 0;
    let missing = 0;
    for (let start = 0; ;) {
      const ids = await this.redis.zrange(this.logKeys.accepted, String(start), String(start + page - 1));
      if (ids.length === 0) break;
      const scores = await this.redis.zmscore(this.logKeys.pending, ...ids);
      const lost = ids.filter((_, index) => scores[index] === null).map(Number);
      if (lost.length > 0) {
        const keys = lost.flatMap((id) => [this.keys.entry(id), this.keys.tombstone(id)]);
        const [back, gone] = await this.redis.wbReconcile(
          3 + keys.length,
          this.logKeys.pending,
          this.logKeys.accepted,
          this.logKeys.counters,
          ...keys,
          Date.now(),
          ...lost,
        );
        recovered += back;
        missing += gone;
        start -= gone;
      }
      start += ids.length;
    }
    return { recovered, missing };
  }

  /** Records pending now (one command, for the admission check). */
  pendingCount(): Promise<number> {
    return this.redis.zcard(this.logKeys.pending);
  }

  /**
   * The counters and the log's size, read in one MULTI (the log's keys share a slot), so the accounting is read
   * from one moment: see {@link unaccountedRecords}.
   */
  async stats(): Promise<ChangeLogStats> {
    const replies = await this.redis
      .multi()
      .hgetall(this.logKeys.counters)
      .zcard(this.logKeys.pending)
      .hlen(this.logKeys.dead)
      .zrange(this.logKeys.accepted, '0', '0', 'WITHSCORES')
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
}
