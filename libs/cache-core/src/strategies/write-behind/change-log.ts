import { Injectable } from '@nestjs/common';
import { CacheKeys } from '../../cache-keys';
import type { CacheableRecord } from '../../cache-strategy';
import { RecordCache } from '../../redis/record-cache';

/**
 * Accepting a change is one script: the new row (or tombstone) with no TTL, the unique-key claim, the
 * readers' lease voided, and the id added to `pending`: the durable log the flusher works from. Either all
 * of it happens or none. `expected` is the version the caller based the change on; a different current
 * version means another change won the race and the caller retries on top of it. With an idempotency record
 * (KEYS[12], ARGV[9]), the answer is stored by the same script, so a change and its answer exist together or
 * not at all; a key that already has an answer is `duplicate` and nothing changes.
 */
/**
 * A stored row's version, read from the JSON text without decoding it: Redis's JSON decoder refuses some
 * strings JSON.stringify writes (escaped lone surrogates), and one such row must not stop the log. A quote
 * inside a JSON string is always escaped, so `"version":` can only be the record's own key.
 */
const VERSION_OF = `local function versionOf(json) return tonumber(string.match(json, '"version":(%-?%d+)')) end`;

const ACCEPT = `${VERSION_OF}
if ARGV[9] ~= '' and redis.call('EXISTS', KEYS[12]) == 1 then return 'duplicate' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'gone' end
local current = redis.call('GET', KEYS[1])
if current and versionOf(current) ~= tonumber(ARGV[4]) then return 'retry' end
local unique, previous, pgOwner = ARGV[5], ARGV[6], ARGV[7]
if unique ~= '' then
  local holder = redis.call('HGET', KEYS[6], unique)
  if holder and holder ~= '-' and holder ~= ARGV[1] then return 'conflict' end
  if not holder and pgOwner ~= '' and pgOwner ~= ARGV[1] and redis.call('EXISTS', KEYS[10]) == 0 then
    return 'conflict'
  end
  redis.call('HSET', KEYS[6], unique, ARGV[1])
end
if previous ~= '' and previous ~= unique and redis.call('HGET', KEYS[6], previous) == ARGV[1] then
  redis.call('HSET', KEYS[6], previous, '-')
end
if ARGV[2] == 'put' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], ARGV[3])
end
redis.call('DEL', KEYS[2])
if redis.call('ZSCORE', KEYS[4], ARGV[1]) and redis.call('HEXISTS', KEYS[8], ARGV[1]) == 0 then
  redis.call('HINCRBY', KEYS[7], 'coalesced', 1)
else
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[1])
end
redis.call('ZADD', KEYS[5], 'NX', ARGV[8], ARGV[1])
redis.call('HDEL', KEYS[11], ARGV[1])
redis.call('HINCRBY', KEYS[7], 'cachedWrites', 1)
if ARGV[9] ~= '' then redis.call('SET', KEYS[12], ARGV[9], 'PX', ARGV[10]) end
return 'ok'`;

/**
 * Claims up to ARGV[2] eligible ids for one flush. Their eligibility moves ARGV[3] ms ahead, like a
 * visibility timeout: if this worker dies, they become eligible again and another worker flushes them.
 */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), id)
  redis.call('HSET', KEYS[2], id, ARGV[1])
end
return ids`;

/**
 * After Postgres committed: a change is done only if the row in Redis is still the version that was
 * written; then it leaves the log and its row may expire. If a newer change arrived meanwhile, the id stays
 * pending and is flushed again at once. An id with neither row nor tombstone has nothing left to flush.
 */
const ACK = `${VERSION_OF}
local now = ARGV[3]
local count = (#ARGV - 3) / 2
for i = 1, count do
  local id, version = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])
  local entry, tomb = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local current = redis.call('GET', entry) or redis.call('GET', tomb)
  redis.call('HDEL', KEYS[4], id)
  if not current or versionOf(current) == version then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    if redis.call('EXISTS', entry) == 1 then redis.call('PEXPIRE', entry, ARGV[1]) elseif current then redis.call('PEXPIRE', tomb, ARGV[2]) end
  else
    redis.call('ZADD', KEYS[1], now, id)
  end
end
return count`;

/** A change Postgres refused: retry later with exponential backoff and jitter, or dead-letter it. */
const FAIL = `
local attempts = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HDEL', KEYS[4], ARGV[1])
if attempts >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[3], ARGV[1], cjson.encode({
    id = tonumber(ARGV[1]), version = tonumber(ARGV[3]), reason = ARGV[2], attempts = attempts, failedAt = tonumber(ARGV[5])
  }))
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 'dead'
end
local backoff = math.min(60000, tonumber(ARGV[6]) * 2 ^ (attempts - 1)) * (0.5 + tonumber(ARGV[7]) / 2)
redis.call('ZADD', KEYS[1], tonumber(ARGV[5]) + backoff, ARGV[1])
return 'retry'`;

/** Puts claimed ids back (Postgres is away: not the changes' fault, so no attempt is counted). */
const RELEASE = `
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return #ARGV - 1`;

/** Dead letters back into the log, with their attempts reset. */
const REPLAY = `
local replayed = 0
for i = 2, #ARGV do
  if redis.call('HDEL', KEYS[3], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[i])
    replayed = replayed + 1
  end
end
return replayed`;

/** A stored row or tombstone, checked to be a record of `id` with a version. */
function decodeRecord<T extends CacheableRecord>(json: string, id: number): T {
  const value = JSON.parse(json) as Partial<T> | null;
  if (value?.id !== id || !Number.isInteger(value.version)) throw new Error('not a record');
  return value as T;
}

interface ChangeLogCommands {
  wbAccept(...args: (string | number)[]): Promise<string>;
  wbClaim(...args: (string | number)[]): Promise<string[]>;
  wbAck(...args: (string | number)[]): Promise<number>;
  wbFail(...args: (string | number)[]): Promise<string>;
  wbRelease(...args: (string | number)[]): Promise<number>;
  wbReplay(...args: (string | number)[]): Promise<number>;
}

export type AcceptResult = 'ok' | 'retry' | 'conflict' | 'gone' | 'duplicate';

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
  cachedWrites: number;
  coalesced: number;
  dbFlushes: number;
  flushedRows: number;
  deadLettered: number;
  pendingWrites: number;
  oldestPendingMs: number | null;
  lastFlush: string | null;
}

/**
 * Write-behind's durable log of accepted, unflushed changes, in the app's Redis: shared by every API and
 * worker process of the app. Each multi-key step is one Lua script (so this expects a single Redis, not a
 * Cluster), and every step is idempotent, so a worker that dies anywhere leaves nothing lost or doubled.
 */
@Injectable()
export class ChangeLog {
  private readonly commands: ChangeLogCommands;
  private readonly pending: string;
  private readonly accepted: string;
  private readonly attempts: string;
  private readonly dead: string;
  private readonly claimed: string;
  private readonly unique: string;
  private readonly counters: string;

  private readonly redis: RecordCache['writer'];

  constructor(
    cache: RecordCache,
    private readonly keys: CacheKeys,
  ) {
    const redis = cache.writer;
    redis.defineCommand('wbAccept', { numberOfKeys: 12, lua: ACCEPT });
    redis.defineCommand('wbClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('wbAck', { lua: ACK });
    redis.defineCommand('wbFail', { numberOfKeys: 6, lua: FAIL });
    redis.defineCommand('wbRelease', { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand('wbReplay', { numberOfKeys: 3, lua: REPLAY });
    this.commands = redis as unknown as ChangeLogCommands;
    this.redis = redis;
    this.pending = keys.named('wb:pending');
    this.accepted = keys.named('wb:accepted');
    this.attempts = keys.named('wb:attempts');
    this.dead = keys.named('wb:dead');
    this.claimed = keys.named('wb:claimed');
    this.unique = keys.named('wb:unique');
    this.counters = keys.named('wb:stats');
  }

  /**
   * Records a change durably (throws if Redis cannot be reached: the caller must not acknowledge it).
   * `uniqueOwner` is who holds the new unique key in Postgres, if known. `answer`: an idempotency record to
   * store with the change (`key`, the serialized answer, its TTL).
   */
  accept<T extends CacheableRecord>(
    change: Change<T>,
    expectedVersion: number,
    unique: { next: string | null; previous: string | null; postgresOwner: number | null },
    answer?: { key: string; value: string; ttlMs: number },
  ): Promise<AcceptResult> {
    const id = change.kind === 'put' ? change.record.id : change.id;
    const payload = change.kind === 'put' ? change.record : { id, version: change.version, deleted: true };
    const owner = unique.postgresOwner ?? id;
    return this.commands.wbAccept(
      this.keys.entry(id),
      this.keys.lease(id),
      this.keys.tombstone(id),
      this.pending,
      this.accepted,
      this.unique,
      this.counters,
      this.claimed,
      this.keys.entry(owner),
      this.keys.tombstone(owner),
      this.dead,
      answer?.key ?? this.keys.named('idempotency:none'),
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
    ) as Promise<AcceptResult>;
  }

  async claim(limit: number, claimTimeoutMs: number): Promise<number[]> {
    const ids = await this.commands.wbClaim(this.pending, this.claimed, Date.now(), limit, claimTimeoutMs);
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

  async ack(flushed: { id: number; version: number }[], ttlMs: number): Promise<void> {
    if (flushed.length === 0) return;
    const keys = flushed.flatMap(({ id }) => [this.keys.entry(id), this.keys.tombstone(id)]);
    const args = flushed.flatMap(({ id, version }) => [id, version]);
    await this.commands.wbAck(
      4 + keys.length,
      this.pending,
      this.accepted,
      this.attempts,
      this.claimed,
      ...keys,
      ttlMs,
      ttlMs,
      Date.now(),
      ...args,
    );
  }

  fail(id: number, version: number, reason: string, maxAttempts: number, backoffMs: number): Promise<string> {
    return this.commands.wbFail(
      this.pending,
      this.attempts,
      this.dead,
      this.claimed,
      this.counters,
      this.accepted,
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
    if (ids.length > 0) await this.commands.wbRelease(this.pending, this.claimed, Date.now() + delayMs, ...ids);
  }

  async countFlush(rows: number): Promise<void> {
    await this.redis
      .multi()
      .hincrby(this.counters, 'dbFlushes', 1)
      .hincrby(this.counters, 'flushedRows', rows)
      .hset(this.counters, 'lastFlush', new Date().toISOString())
      .exec();
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const entries = await this.redis.hvals(this.dead);
    return entries
      .map((entry) => JSON.parse(entry) as Omit<DeadLetter, 'failedAt'> & { failedAt: number })
      .map((entry) => ({ ...entry, failedAt: new Date(entry.failedAt).toISOString() }))
      .sort((a, b) => a.id - b.id);
  }

  /** Sends dead letters (all, or the ids given) back to be flushed; returns how many. */
  async replay(ids?: number[]): Promise<number> {
    const targets = ids ?? (await this.redis.hkeys(this.dead)).map(Number);
    if (targets.length === 0) return 0;
    await this.redis.hdel(this.attempts, ...targets.map(String));
    return this.commands.wbReplay(this.pending, this.accepted, this.dead, Date.now(), ...targets);
  }

  /** True once no change accepted at or before `acceptedBefore` is still waiting (dead letters aside). */
  async flushedUpTo(acceptedBefore: number): Promise<boolean> {
    return (await this.redis.zcount(this.accepted, '-inf', acceptedBefore)) === 0;
  }

  /** True while some change is eligible to be flushed now. */
  async hasEligible(): Promise<boolean> {
    return (await this.redis.zcount(this.pending, '-inf', Date.now())) > 0;
  }

  async stats(): Promise<ChangeLogStats> {
    const [counters, pending, deadLettered, oldest] = await Promise.all([
      this.redis.hgetall(this.counters),
      this.redis.zcard(this.pending),
      this.redis.hlen(this.dead),
      this.redis.zrange(this.accepted, '0', '0', 'WITHSCORES'),
    ]);
    const number = (name: string): number => Number(counters[name] ?? 0);
    return {
      cachedWrites: number('cachedWrites'),
      coalesced: number('coalesced'),
      dbFlushes: number('dbFlushes'),
      flushedRows: number('flushedRows'),
      deadLettered,
      pendingWrites: pending,
      oldestPendingMs: oldest[1] === undefined ? null : Math.max(0, Date.now() - Number(oldest[1])),
      lastFlush: counters.lastFlush ?? null,
    };
  }
}
