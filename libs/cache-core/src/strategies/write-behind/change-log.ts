import { CacheConfig, CacheUnavailableError } from '@app/common';
import { Injectable } from '@nestjs/common';
import type { CacheableRecord } from '../../cache-strategy';
import { CacheKeys } from '../../redis/cache-keys';
import { RedisConnections } from '../../redis/redis-connections';
import type { ScriptedRedis } from '../../redis/redis-scripts';
import { type AcceptResult, type Change, decodeRecord, type PatchRefusal, type ScriptPipeline } from './change';
import { acceptArgs, failArgs, patchArgs } from './change-log-scripts';
import { type ChangeLogStats, readChangeLogStats } from './change-log-stats';

/**
 * How long a flushed record's claim on its unique value is remembered after it leaves the claims hash: longer
 * than an accept takes between asking Postgres for the value's owner and running its script (a statement and a
 * Redis write, each bounded by its timeout: 5 s and 2 s by default), and short, since it is memory a full Redis
 * gets back only when it expires.
 */
const FLUSHED_CLAIM_TTL_MS = 30_000;

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
    const log = this.logKeys;
    const args = acceptArgs(
      {
        entry: this.keys.entry(id),
        lease: this.keys.lease(id),
        tombstone: this.keys.tombstone(id),
        pending: log.pending,
        accepted: log.accepted,
        unique: log.unique,
        counters: log.counters,
        claimed: log.claimed,
        ownerEntry: this.keys.entry(owner),
        ownerTombstone: this.keys.tombstone(owner),
        dead: log.dead,
        idempotency: answer?.key ?? this.keys.noIdempotency,
        flushedClaim: this.keys.flushedClaim(unique.next ?? ''),
      },
      {
        id,
        kind: change.kind,
        payload: JSON.stringify(payload),
        expectedVersion,
        nextUnique: unique.next ?? '',
        previousUnique: unique.previous ?? '',
        postgresOwner: unique.postgresOwner ?? '',
        now: Date.now(),
        answer: answer?.value ?? '',
        answerTtlMs: answer?.ttlMs ?? 0,
        channel: log.changes,
        maxPending,
      },
    );
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
    const log = this.logKeys;
    const args = patchArgs(
      {
        entry: this.keys.entry(id),
        lease: this.keys.lease(id),
        tombstone: this.keys.tombstone(id),
        pending: log.pending,
        accepted: log.accepted,
        counters: log.counters,
        claimed: log.claimed,
        dead: log.dead,
      },
      {
        id,
        fields: JSON.stringify(fields),
        ifMatch: ifMatch?.join(',') ?? 'any',
        now: Date.now(),
        channel: log.changes,
        maxPending,
      },
    );
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
    const { pending, attempts, dead, claimed, counters, accepted } = this.logKeys;
    return this.redis.wbFail(
      ...failArgs(
        { pending, attempts, dead, claimed, counters, accepted },
        {
          id,
          reason: reason.slice(0, 500),
          version,
          maxAttempts,
          now: Date.now(),
          backoffMs,
          jitter: Math.random(),
        },
      ),
    );
  }

  async release(ids: number[], delayMs: number): Promise<void> {
    if (ids.length > 0)
      await this.redis.wbRelease(this.logKeys.pending, this.logKeys.claimed, Date.now() + delayMs, ...ids);
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

  /** See {@link readChangeLogStats}. */
  stats(): Promise<ChangeLogStats> {
    return readChangeLogStats(this.redis, this.logKeys);
  }
}
