import { AppIdentity, DatabaseConfig, OutboxConfig } from '@app/common';
import {
  type BeforeApplicationShutdown,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { NearCache } from '../near/near-cache';
import { RedisConnections } from '../redis/redis-connections';
import { ChangeConfirmations } from './change-confirmations';
import { type CommittedChange, DEFAULT_INVALIDATION_TARGET, InvalidationTarget, parseChange } from './committed-change';
import { InvalidationFeed } from './invalidation-feed';
import { OUTBOX_TABLE, outboxChannels } from './outbox-schema';
import { ReadGate } from './read-gate';

/** Changes applied per Redis batch and per `applied` notification (a payload must stay under 8,000 bytes). */
const BATCH = 300;

/** A periodic sweep leaves rows younger than this to the notifications, which are on their way. */
const SWEEP_MIN_AGE_SECONDS = 0.5;

/** How long a catch-up waits for the write connection when the read connection is back first. */
const WRITER_WAIT_MS = 2000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A catch-up marks at most this many changed records one by one; past that, it holds every read until applied. */
const MARKED_AT_MOST = 50_000;

/** How long the start waits for the feed and its first catch-up before it serves anyway (reading Postgres first). */
const START_CATCH_UP_MS = 3000;

interface OutboxRow {
  id: string;
  record_id: number;
  version: number;
  operation: CommittedChange['operation'];
}

/**
 * The invalidation outbox, as every instance runs it. Each committed change of a cached record leaves a row in
 * `cache_invalidations` and a `NOTIFY` (a trigger, in the change's own transaction; see `outbox-schema.ts`).
 * Every instance listens; whichever can reach Redis applies the change (version-aware, so repeating it or
 * applying it late is harmless), deletes the row and says so on the `applied` channel, which also serves as a
 * heartbeat. A sweep applies rows no notification delivered (a listener that was away), and a catch-up runs at
 * start, and whenever Redis or the feed comes back, with reads from Redis held until it is done. So a change is
 * invalidated even when its writer cannot reach Redis, or dies right after the commit.
 */
@Injectable()
export class InvalidationOutbox implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InvalidationOutbox.name);
  private readonly instance = randomBytes(6).toString('hex');
  private readonly channels: { changes: string; applied: string };
  private readonly feed?: InvalidationFeed;
  private target?: InvalidationTarget;
  private queue: CommittedChange[] = [];
  private draining?: Promise<void>;
  private catchingUp?: Promise<void>;
  private catchUpAgain = false;
  /** How many times the feed was lost: a catch-up that began before a loss does not end the deafness. */
  private losses = 0;
  private sweeper?: NodeJS.Timeout;
  private stopped = false;
  private failing = false;
  private readonly counters = { notified: 0, applied: 0, swept: 0, catchUps: 0, failures: 0 };

  constructor(
    private readonly dataSource: DataSource,
    identity: AppIdentity,
    database: DatabaseConfig,
    private readonly config: OutboxConfig,
    private readonly redis: RedisConnections,
    private readonly gate: ReadGate,
    private readonly confirmations: ChangeConfirmations,
    private readonly moduleRef: ModuleRef,
    private readonly near: NearCache,
  ) {
    this.channels = outboxChannels(identity.schema);
    if (!config.enabled) {
      if (near.configured)
        this.logger.warn('NEAR_CACHE_MAX_ENTRIES needs the invalidation outbox: the near cache stays off');
      return;
    }
    this.feed = new InvalidationFeed({
      url: database.url,
      schema: identity.schema,
      connectTimeoutMs: database.timeoutMs,
      applicationName: `invalidation-feed ${this.instance}`,
      channels: [this.channels.changes, this.channels.applied],
      onMessage: (channel, payload) => this.received(channel, payload),
      // Back: once what was missed meanwhile is applied, the near cache may be used again.
      onConnected: () => void this.catchUp().then(() => this.feed?.connected && this.near.enable()),
      onLost: () => {
        this.losses += 1;
        this.deafened();
        this.near.disable();
      },
    });
    this.deafened();
    confirmations.probeWith((id, version) => this.appliedInPostgres(id, version));
    // Redis back (or up for the first time): entries may be older than changes committed while it was away.
    redis.onReady(() => void this.catchUp());
  }

  /** True once the target is known and can reach Redis. */
  private get canApply(): boolean {
    return this.target?.writable ?? false;
  }

  /** True while notifications arrive and what was missed before is known (or when the outbox is off). */
  get listening(): boolean {
    return this.feed === undefined || (this.feed.connected && this.gate.listening);
  }

  onModuleInit(): void {
    try {
      this.target = this.moduleRef.get(InvalidationTarget, { strict: false });
    } catch {
      this.target = this.moduleRef.get<InvalidationTarget>(DEFAULT_INVALIDATION_TARGET, { strict: false });
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.sweeper = setInterval(() => void this.sweep(), this.config.sweepMs);
    this.sweeper.unref();
    if (this.feed === undefined) return;
    // The feed's first connection starts the first catch-up. Until both are done, reads go to Postgres first; the
    // start waits for them a moment, so that a healthy instance serves its first reads from Redis.
    this.feed.start();
    for (let waited = 0; !this.listening && !this.stopped && waited < START_CATCH_UP_MS; waited += 20) {
      await sleep(20);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    await this.feed?.close();
  }

  snapshot(): Record<string, number | boolean | string> {
    return { instance: this.instance, listening: this.listening, ...this.counters, ...this.confirmations.snapshot() };
  }

  private received(channel: string, payload: string | undefined): void {
    if (channel === this.channels.applied) return this.confirmed(payload);
    const change = parseChange(payload);
    if (change === null) return;
    this.counters.notified += 1;
    this.near.changed(change.id, change.version, change.operation);
    this.confirmations.notified(change.id, change.version);
    this.queue.push(change);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Another instance applied changes (or only says it is alive and reaches Redis). */
  private confirmed(payload: string | undefined): void {
    try {
      const message = JSON.parse(payload ?? '') as { from?: string; applied?: [number, number][] };
      if (message.from === this.instance) return;
      this.confirmations.peerAlive();
      for (const [id, version] of message.applied ?? []) this.confirmations.applied(id, version);
    } catch {
      // Not ours: ignore.
    }
  }

  /** Applies what notifications brought; whatever cannot be applied now stays in the table for the sweep. */
  private async drain(): Promise<void> {
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH);
      if (this.canApply) await this.applyAndDelete(batch);
    }
  }

  /** Periodically: rows a notification did not deliver, and a heartbeat for writers waiting on confirmations. */
  private async sweep(): Promise<void> {
    if (this.stopped) return;
    if (!this.config.enabled) return this.prune();
    if (this.catchingUp !== undefined) return;
    // The feed is up but the catch-up after it failed: what changed meanwhile is still unknown.
    if (this.feed?.connected && !this.gate.listening) return this.catchUp();
    if (!this.canApply) return;
    const since = Date.now() - 1000 * SWEEP_MIN_AGE_SECONDS;
    const rows = await this.pending(SWEEP_MIN_AGE_SECONDS);
    if (rows === null) return;
    if (rows.length === 0) {
      // Nothing older than the sweep's margin is left: whatever was announced before it has been applied.
      this.confirmations.caughtUp(since - 1000);
      return this.heartbeat();
    }
    this.counters.swept += rows.length;
    await this.applyAndDelete(rows);
  }

  /**
   * Applies every row committed before it started (rows committed later come with their notification). Reads
   * from Redis are held only until it knows which records those rows name: it marks them unapplied, so their reads
   * skip Redis until applied, and lets every other read through. One at a time: a call during a run waits for it,
   * and runs once more after it (what the running one missed).
   */
  private catchUp(): Promise<void> {
    // Redis can be ready before this module is initialized; the start's own catch-up comes later.
    if (this.feed === undefined || this.target === undefined) return Promise.resolve();
    if (this.catchingUp !== undefined) {
      this.catchUpAgain = true;
      return this.catchingUp;
    }
    this.catchingUp = this.catchUpOnce()
      .then(async () => {
        while (this.catchUpAgain && !this.stopped) {
          this.catchUpAgain = false;
          await this.catchUpOnce();
        }
      })
      .finally(() => (this.catchingUp = undefined));
    return this.catchingUp;
  }

  private async catchUpOnce(): Promise<void> {
    this.counters.catchUps += 1;
    const since = Date.now();
    const losses = this.losses;
    const hearing = this.feed?.connected ?? false;
    const last = await this.gate.closedDuring(async () => {
      // The read connection is back; the write connection, which applies, may take a moment more. (With Redis
      // away, as at a start without it, there is nothing to wait for: Redis's return starts a catch-up.)
      const waitForWriter = this.redis.available;
      for (let waited = 0; waitForWriter && !this.canApply && !this.stopped && waited < WRITER_WAIT_MS; waited += 20) {
        await sleep(20);
      }
      const changed = await this.query<{ record_id: number; version: number; last: string }>(
        `SELECT record_id, max(version) AS version, max(id) AS last FROM ${OUTBOX_TABLE} GROUP BY record_id LIMIT $1`,
        [MARKED_AT_MOST + 1],
      );
      if (changed === null) {
        // Postgres failed: what changed is unknown, so entries are only copies until the sweep tries again.
        this.deafened();
        return null;
      }
      if (hearing && this.feed?.connected && this.losses === losses) {
        this.gate.hears();
        this.confirmations.hearing(true);
      }
      if (changed.length > MARKED_AT_MOST) {
        // Too many to mark one by one: the gate stays closed until they are applied.
        const [max] = (await this.query<{ id: string | null }>(`SELECT max(id) AS id FROM ${OUTBOX_TABLE}`, [])) ?? [];
        return max === undefined ? null : (await this.applyUpTo(max.id)) ? max.id : null;
      }
      for (const row of changed) this.confirmations.notified(row.record_id, row.version);
      return changed.reduce<string | null>(
        (max, row) => (max === null || BigInt(row.last) > BigInt(max) ? row.last : max),
        null,
      );
    });
    if (last !== null && (await this.applyUpTo(last)) && this.canApply) this.confirmations.caughtUp(since);
  }

  /** Applies the rows up to `last`, in batches; false when Postgres or Redis failed. */
  private async applyUpTo(last: string | null): Promise<boolean> {
    while (last !== null && !this.stopped && this.canApply) {
      const rows = await this.pending(0, last);
      if (rows === null || !(rows.length === 0 || (await this.applyAndDelete(rows)))) return false;
      if (rows.length === 0) break;
    }
    return true;
  }

  /** Applies changes to Redis, then deletes their rows and tells the other instances; false when it failed. */
  private async applyAndDelete(changes: CommittedChange[]): Promise<boolean> {
    try {
      if (this.target === undefined) return false;
      await this.target.apply(changes);
    } catch (error) {
      this.redis.failed(error);
      return this.failed(error);
    }
    this.counters.applied += changes.length;
    const applied = changes.map((change) => [change.id, change.version] as const);
    for (const [id, version] of applied) this.confirmations.applied(id, version);
    const ok = await this.query(
      `WITH done AS (DELETE FROM ${OUTBOX_TABLE} WHERE id = ANY($1::bigint[]) RETURNING id) SELECT pg_notify($2, $3)`,
      [
        changes.map((change) => change.outboxId),
        this.channels.applied,
        JSON.stringify({ from: this.instance, applied }),
      ],
    );
    return ok !== null;
  }

  private async heartbeat(): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [
      this.channels.applied,
      JSON.stringify({ from: this.instance, applied: [] }),
    ]);
  }

  /** With the outbox off: rows are deleted unapplied, so the table does not grow. */
  private async prune(): Promise<void> {
    await this.query(`DELETE FROM ${OUTBOX_TABLE}`, []);
  }

  /** The oldest rows at least `minAgeSeconds` old (and at most `upToId`, when given). */
  private async pending(minAgeSeconds: number, upToId: string | null = null): Promise<CommittedChange[] | null> {
    const rows = await this.query<OutboxRow>(
      `SELECT id, record_id, version, operation FROM ${OUTBOX_TABLE}
       WHERE created_at <= clock_timestamp() - make_interval(secs => $1) AND ($3::bigint IS NULL OR id <= $3)
       ORDER BY id LIMIT $2`,
      [minAgeSeconds, BATCH, upToId],
    );
    return (
      rows?.map((row) => ({ outboxId: row.id, id: row.record_id, version: row.version, operation: row.operation })) ??
      null
    );
  }

  /** The feed is down, or what was missed is unknown: reads take entries for copies, writers cannot hear peers. */
  private deafened(): void {
    this.gate.deafened();
    this.confirmations.hearing(false);
  }

  /** True once no outbox row of `id` up to `version` (any, without one) is left: each was applied to Redis. */
  private async appliedInPostgres(id: number, version: number | undefined): Promise<boolean> {
    const rows = await this.query<{ applied: boolean }>(
      `SELECT NOT EXISTS (SELECT 1 FROM ${OUTBOX_TABLE} WHERE record_id = $1 AND ($2::int IS NULL OR version <= $2))
       AS applied`,
      [id, version ?? null],
    );
    return rows?.[0]?.applied === true;
  }

  /** A statement on the app's pool; null (logged once per run of failures) when Postgres fails. */
  private async query<R>(sql: string, parameters: unknown[]): Promise<R[] | null> {
    try {
      const rows = await this.dataSource.query<R[]>(sql, parameters);
      // The feed is still backing off, while Postgres already answers: every moment deaf costs the cache.
      if (this.feed?.connected === false) this.feed.reconnectNow();
      if (this.failing) this.logger.log('The invalidation outbox works again');
      this.failing = false;
      return rows;
    } catch (error) {
      this.failed(error);
      return null;
    }
  }

  private failed(error: unknown): false {
    this.counters.failures += 1;
    if (!this.failing && !this.stopped) {
      this.logger.warn(`Invalidation outbox: ${(error as Error).message}; the sweep will try again`);
    }
    this.failing = true;
    return false;
  }
}
