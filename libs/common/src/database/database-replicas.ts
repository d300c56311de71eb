import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { AppIdentity, DatabaseConfig } from '../config/config-slices';
import { DatabaseUnavailableError } from '../errors/domain.errors';
import { cancellableQuery } from './cancellable-query';
import { isDatabaseUnavailable, translateDatabaseErrors } from './database-errors';

/** Somewhere a read can run: the primary's pool or a replica's. */
export interface ReadSource {
  readonly name: 'primary' | 'replica';
  /** A read; when `signal` aborts before it answers, the statement is cancelled in Postgres and the call rejects. */
  query<R>(sql: string, parameters: unknown[], signal?: AbortSignal): Promise<R[]>;
  /** A client of the source's pool, for a cursor; `release()` it when done. */
  connect(): Promise<PoolClient>;
}

/** `source` with every query cancelled when `signal` aborts. */
export function cancelledBy(source: ReadSource, signal: AbortSignal): ReadSource {
  return {
    name: source.name,
    query: (sql, parameters) => source.query(sql, parameters, signal),
    connect: () => source.connect(),
  };
}

/** A read on `pool`, cancellable. */
async function poolQuery<R>(pool: Pool, sql: string, parameters: unknown[], signal?: AbortSignal): Promise<R[]> {
  return signal === undefined
    ? ((await pool.query(sql, parameters)).rows as R[])
    : cancellableQuery<R>(pool, sql, parameters, signal);
}

/** How often each replica's replay position is compared with the primary's. */
const CHECK_MS = 250;

/** How a replica is doing, as `/health` and `/stats` show it. */
export interface ReplicaState {
  /** The URL without credentials. */
  url: string;
  up: boolean;
  /** How far replay is behind the primary, in ms (0: caught up); null while unknown. */
  lagMs: number | null;
  /** Up and within `DATABASE_REPLICA_MAX_LAG_MS`: reads go to it. */
  used: boolean;
}

/** `0/3000060` as a number of bytes. */
function lsn(text: string | null): bigint | null {
  if (text === null) return null;
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

class Replica implements ReadSource {
  readonly name = 'replica';
  up = false;
  lagMs: number | null = null;
  private reportedDown = false;

  constructor(
    readonly url: string,
    readonly pool: Pool,
    private readonly logger: Logger,
  ) {
    pool.on('error', () => undefined);
  }

  get shownUrl(): string {
    const url = new URL(this.url);
    url.password = '';
    return url.toString();
  }

  async query<R>(sql: string, parameters: unknown[], signal?: AbortSignal): Promise<R[]> {
    try {
      return await translateDatabaseErrors(() => poolQuery<R>(this.pool, sql, parameters, signal));
    } catch (error) {
      if (isDatabaseUnavailable(error)) this.down(error);
      throw error;
    }
  }

  async connect(): Promise<PoolClient> {
    try {
      return await translateDatabaseErrors(() => this.pool.connect());
    } catch (error) {
      if (isDatabaseUnavailable(error)) this.down(error);
      throw error;
    }
  }

  /** Where replay is, and how long ago the last replayed transaction committed on the primary. */
  async position(): Promise<{ replayed: bigint | null; sinceReplayMs: number | null }> {
    const [row] = await this.query<{ replayed: string | null; since: number | null }>(
      `SELECT pg_last_wal_replay_lsn()::text AS replayed,
              (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS since`,
      [],
    );
    return { replayed: lsn(row?.replayed ?? null), sinceReplayMs: row?.since ?? null };
  }

  back(lagMs: number): void {
    if (this.reportedDown) this.logger.log(`Replica ${this.shownUrl} is back (lag ${Math.round(lagMs)} ms)`);
    this.reportedDown = false;
    this.up = true;
    this.lagMs = lagMs;
  }

  down(error: unknown): void {
    if (!this.reportedDown) {
      this.logger.warn(`Replica ${this.shownUrl} not used: ${(error as Error).message}; reads go elsewhere`);
    }
    this.reportedDown = true;
    this.up = false;
    this.lagMs = null;
  }
}

/**
 * The streaming read replicas of `DATABASE_URL` (`DATABASE_REPLICA_URLS`), each with a small pool of its own.
 * Every 250 ms each replica's replay position is compared with the primary's: a replica that does not answer, or
 * whose replay is further behind than `DATABASE_REPLICA_MAX_LAG_MS`, is skipped until it is back. Lag is 0 when
 * replay has reached the primary's position of the moment before, else the age of the last replayed commit (so it
 * grows while replay is paused or stuck). What may be read from a replica, and whether a row it answers is new
 * enough, is the cache's business (`ReplicaLoads` in cache-core).
 */
@Injectable()
export class DatabaseReplicas implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseReplicas.name);
  private readonly replicas: Replica[];
  private next = 0;
  private timer?: NodeJS.Timeout;
  private checking = false;
  readonly primary: ReadSource;

  constructor(
    private readonly config: DatabaseConfig,
    identity: AppIdentity,
    private readonly dataSource: DataSource,
  ) {
    this.replicas = config.replicaUrls.map(
      (url) =>
        new Replica(
          url,
          new Pool({
            connectionString: url,
            max: Math.max(2, Math.ceil(config.poolSize / 2)),
            connectionTimeoutMillis: config.timeoutMs,
            idleTimeoutMillis: 30_000,
            statement_timeout: config.timeoutMs,
            query_timeout: config.timeoutMs + 500,
            application_name: `${identity.name} (replica reads)`,
            options: `-c search_path=${identity.schema}`,
          }),
          this.logger,
        ),
    );
    this.primary = {
      name: 'primary',
      query: <R>(sql: string, parameters: unknown[], signal?: AbortSignal) =>
        translateDatabaseErrors(async () =>
          signal === undefined
            ? ((await dataSource.query<R[]>(sql, parameters)) ?? [])
            : poolQuery<R>((dataSource.driver as PostgresDriver).master as Pool, sql, parameters, signal),
        ),
      connect: () => translateDatabaseErrors(() => ((dataSource.driver as PostgresDriver).master as Pool).connect()),
    };
  }

  /** True when `DATABASE_REPLICA_URLS` names any. */
  get configured(): boolean {
    return this.replicas.length > 0;
  }

  async onModuleInit(): Promise<void> {
    if (!this.configured) return;
    await this.check();
    this.timer = setInterval(() => void this.check(), CHECK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    // A replica's pool gets a second to close; the wait is cleared once it has, so nothing outlives shutdown.
    await Promise.all(
      this.replicas.map((replica) => {
        let timer: NodeJS.Timeout | undefined;
        return Promise.race([
          replica.pool.end().catch(() => undefined),
          new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
        ]).finally(() => clearTimeout(timer));
      }),
    );
  }

  /** A replica to read from (round robin over those in use), or undefined when none is. */
  pick(): ReadSource | undefined {
    for (let tried = 0; tried < this.replicas.length; tried += 1) {
      const replica = this.replicas[this.next % this.replicas.length]!;
      this.next += 1;
      if (this.usable(replica)) return replica;
    }
    return undefined;
  }

  /**
   * A replica (as {@link pick}) that has replayed everything the primary had written when this was called, or
   * undefined (none in use, or the one picked still behind after `DATABASE_REPLICA_REPLAY_WAIT_MS`, 50 ms by
   * default: a healthy replica is a few milliseconds behind a busy primary, so most reads still go to it). For reads with no row
   * version to hold against a floor (the blog's list chunks and pages): called after the reader read its
   * generation tokens, so every write acknowledged before that is in what the replica answers. Costs one trivial
   * query on the primary (`pg_current_wal_insert_lsn()`: past every acknowledged commit, whatever
   * `synchronous_commit` says) and one or a few on the replica. With `synchronous_commit = off` WAL reaches a
   * replica only at the WAL writer's next flush (`wal_writer_delay`, 200 ms), and most of these reads then go
   * to the primary. Throws when the primary fails.
   */
  async replayedNow(): Promise<{ replica: ReadSource | undefined; refused: boolean }> {
    const replica = this.pick();
    if (replica === undefined) return { replica: undefined, refused: false };
    const [primary] = await this.primary.query<{ at: string }>('SELECT pg_current_wal_insert_lsn()::text AS at', []);
    const deadline = performance.now() + this.config.replicaReplayWaitMs;
    try {
      for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 16)) {
        const [replayed] = await replica.query<{ ok: boolean }>(
          'SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS ok',
          [primary!.at],
        );
        if (replayed!.ok) return { replica, refused: false };
        if (performance.now() + pauseMs > deadline) return { replica: undefined, refused: true };
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    } catch (error) {
      // The replica is marked down and skipped until it answers again.
      if (!(error instanceof DatabaseUnavailableError)) throw error;
      return { replica: undefined, refused: false };
    }
  }

  states(): ReplicaState[] {
    return this.replicas.map((replica) => ({
      url: replica.shownUrl,
      up: replica.up,
      lagMs: replica.lagMs === null ? null : Math.round(replica.lagMs),
      used: this.usable(replica),
    }));
  }

  private usable(replica: Replica): boolean {
    return replica.up && replica.lagMs !== null && replica.lagMs <= this.config.replicaMaxLagMs;
  }

  /** Compares each replica's replay position with the primary's. */
  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let primaryAt: bigint | null = null;
      try {
        const [row] = await this.dataSource.query<{ at: string }[]>('SELECT pg_current_wal_lsn()::text AS at');
        primaryAt = lsn(row?.at ?? null);
      } catch {
        // The primary is away: a replica's lag is then its last replayed commit's age.
      }
      await Promise.all(
        this.replicas.map(async (replica) => {
          try {
            const { replayed, sinceReplayMs } = await replica.position();
            if (replayed === null) throw new Error('not a replica (no WAL replay position)');
            const caughtUp = primaryAt !== null && replayed >= primaryAt;
            replica.back(caughtUp ? 0 : Math.max(0, sinceReplayMs ?? Number.POSITIVE_INFINITY));
          } catch (error) {
            replica.down(error);
          }
        }),
      );
    } finally {
      this.checking = false;
    }
  }
}
