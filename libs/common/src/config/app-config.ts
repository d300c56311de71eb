import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import {
  getMetadataStorage,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { InvalidConfigError } from '../errors/invalid-config.error';

/** `postgres://…` URLs separated by commas. */
const REPLICA_URLS = /^postgres(ql)?:\/\/[^,\s]+(,postgres(ql)?:\/\/[^,\s]+)*$/;

export const HTTP_ADAPTERS = ['express', 'fastify'] as const;
export type HttpAdapterName = (typeof HTTP_ADAPTERS)[number];

/** Reads the raw string (implicit conversion would already have turned "false" into true). */
const toBoolean = ({ obj, key }: { obj: Record<string, unknown>; key: string }): unknown => {
  const raw = obj[key];
  if (raw === 'true' || raw === '1' || raw === true) return true;
  if (raw === 'false' || raw === '0' || raw === false) return false;
  return raw;
};

/**
 * Every environment variable the apps read, validated once at start.
 * Defaults work against Postgres and Redis on localhost with their stock ports.
 */
export class AppConfig {
  /** HTTP port; defaults to the app's own (8001-8005, 8009, 8000, 8080). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  PORT?: number;

  /** Interface to listen on (all by default). */
  @IsString()
  HOST: string = '0.0.0.0';

  /** Where an app without HTTP (the write-behind worker role) serves `GET /metrics`; 0 picks a free port. */
  @IsInt()
  @Min(0)
  @Max(65535)
  METRICS_PORT: number = 9464;

  /** Postgres to use; the database is created if it does not exist. */
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL: string = 'postgres://postgres@localhost:5432/caching_patterns';

  /** Postgres schema that holds this app's tables; defaults to the pattern name. */
  @IsOptional()
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'DATABASE_SCHEMA must be a lower-case SQL identifier' })
  DATABASE_SCHEMA?: string;

  /** Postgres connections per app. */
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE: number = 10;

  /** Upper bound for connecting to Postgres and for any one statement. */
  @IsInt()
  @Min(100)
  DATABASE_TIMEOUT_MS: number = 5000;

  /**
   * Streaming read replicas of DATABASE_URL, as `postgres://…,postgres://…` (empty: every read on the primary).
   * Loads after a miss go to a replica; a row older than a write the cache knows of is refused and read from the
   * primary instead. Writes, and everything else, stay on the primary.
   */
  @IsOptional()
  @Matches(REPLICA_URLS, { message: 'DATABASE_REPLICA_URLS must be postgres:// URLs separated by commas' })
  DATABASE_REPLICA_URLS?: string;

  /** A replica further behind the primary than this (replay lag) is not read from until it catches up. */
  @IsInt()
  @Min(0)
  @Max(50_000)
  DATABASE_REPLICA_MAX_LAG_MS: number = 5000;

  /**
   * How long a blog list read (a chunk, a page) waits for a replica to replay what the primary had written when
   * the read began; past it the read goes to the primary. Longer sends more of them to the replica and makes each
   * wait longer when it lags.
   */
  @IsInt()
  @Min(0)
  @Max(5000)
  DATABASE_REPLICA_REPLAY_WAIT_MS: number = 50;

  /** The single Redis (unless `REDIS_CLUSTER_NODES` is set). */
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be a redis:// URL' })
  REDIS_URL: string = 'redis://localhost:6379';

  /** Every cache key of this app starts with it; defaults to `<pattern>:`. No braces: keys put it in hash tags. */
  @IsOptional()
  @IsString()
  @MinLength(1)
  @Matches(/^[^{}]+$/, { message: 'REDIS_KEY_PREFIX must not contain { or }' })
  REDIS_KEY_PREFIX?: string;

  /**
   * A Redis Cluster to use instead of REDIS_URL: some of its nodes as `host:port,host:port,...` (the client finds
   * the rest). Every connection (cache, BullMQ, the blog's list) then uses a cluster client.
   */
  @IsOptional()
  @Matches(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, { message: 'REDIS_CLUSTER_NODES must be host:port,host:port,...' })
  REDIS_CLUSTER_NODES?: string;

  /**
   * Write-behind on a Redis Cluster: an accepted write is acknowledged only once this many of its master's
   * replicas have it (`WAIT`), so a failover cannot lose it; fewer when the master has fewer (right after a
   * failover, until the old master rejoins as a replica). 0 turns the wait off; ignored on a single Redis.
   */
  @IsInt()
  @Min(0)
  @Max(10)
  REDIS_WAIT_REPLICAS: number = 1;

  /** How long an accepted write waits for its replicas before the client gets 503 (outcome unknown), in ms. */
  @IsInt()
  @Min(10)
  @Max(60000)
  REDIS_WAIT_TIMEOUT_MS: number = 1000;

  /** How long a cache command may take before the request goes on without Redis. */
  @IsInt()
  @Min(5)
  @Max(10000)
  REDIS_COMMAND_TIMEOUT_MS: number = 100;

  /**
   * How long a command on the write path (write-behind's accept script, write-through's cache write, an
   * invalidation) may take: longer than a read's, since a write that timed out has an unknown outcome.
   */
  @IsInt()
  @Min(5)
  @Max(60000)
  REDIS_WRITE_TIMEOUT_MS: number = 2000;

  /** Consecutive failed cache reads after which reads skip Redis for a short, growing while; 0 turns it off. */
  @IsInt()
  @Min(0)
  @Max(1000)
  REDIS_BREAKER_FAILURES: number = 3;

  /**
   * How often every app reads Redis's `maxmemory`, `maxmemory-policy` and used memory (`INFO memory`, from every
   * master of a cluster), besides at start and after each reconnect, in ms.
   */
  @IsInt()
  @Min(100)
  @Max(600_000)
  REDIS_MEMORY_CHECK_MS: number = 2000;

  /** How long the answer to a write with an `Idempotency-Key` is kept and replayed to retries. */
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  IDEMPOTENCY_TTL_SECONDS: number = 86_400;

  /** How long a cache entry lives, in seconds (before jitter). */
  @IsInt()
  @Min(1)
  CACHE_TTL_SECONDS: number = 300;

  /** Fraction of the TTL taken off at random, so keys filled together do not expire together. */
  @IsNumber()
  @Min(0)
  @Max(0.9)
  CACHE_TTL_JITTER: number = 0.1;

  /**
   * How long an entry of a record is kept past its TTL as a grace copy, in seconds (0: none). Past its TTL an
   * entry is stale: a read loads again, and answers the stale copy only when Postgres fails or is slow (see
   * `CACHE_SOFT_TIMEOUT_MS`). Writes remove grace copies as they remove entries; "absent" entries get none.
   */
  @IsInt()
  @Min(0)
  @Max(7 * 24 * 3600)
  CACHE_GRACE_SECONDS: number = 3600;

  /**
   * With a grace copy, how long a read waits for Postgres before it answers the stale copy, in ms; the load
   * goes on and fills the cache for the next read.
   */
  @IsInt()
  @Min(0)
  @Max(60_000)
  CACHE_SOFT_TIMEOUT_MS: number = 100;

  /**
   * How long a read waits for Postgres after a miss at most, in ms: then it answers the grace copy if there is
   * one, else 503 with `Retry-After`, and cancels the statement in Postgres (`pg_cancel_backend`).
   */
  @IsInt()
  @Min(1)
  @Max(60_000)
  CACHE_LOAD_TIMEOUT_MS: number = 2000;

  /**
   * How long a reader that misses while another reader (any instance) holds the entry's lease waits for that
   * reader's fill before loading the row itself, in ms.
   */
  @IsInt()
  @Min(0)
  @Max(10000)
  CACHE_LEASE_WAIT_MS: number = 200;

  /**
   * The invalidation outbox (see docs/consistency.md): every instance applies the invalidations committed with each change
   * (Postgres NOTIFY), and a sweep applies what a missed notification left. `false` only to compare against it.
   */
  @Transform(toBoolean)
  @IsBoolean()
  INVALIDATION_OUTBOX: boolean = true;

  /** How often each instance looks for outbox rows no notification delivered, in ms. */
  @IsInt()
  @Min(100)
  @Max(60_000)
  OUTBOX_SWEEP_MS: number = 1000;

  /**
   * How long a write whose own invalidation could not reach Redis waits, before it answers, for another instance
   * to apply it (only while some other instance reaches Redis), in ms.
   */
  @IsInt()
  @Min(0)
  @Max(10_000)
  OUTBOX_CONFIRM_WAIT_MS: number = 1000;

  /** Entries of the in-process near cache in front of Redis; 0 turns it off. */
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  NEAR_CACHE_MAX_ENTRIES: number = 0;

  /** How long a near-cache entry lives at most, in ms. */
  @IsInt()
  @Min(1)
  @Max(3_600_000)
  NEAR_CACHE_TTL_MS: number = 5000;

  /** How long an id that does not exist is remembered as absent (read-through). */
  @IsInt()
  @Min(1)
  NEGATIVE_TTL_SECONDS: number = 30;

  /** `express` or `fastify`; both pass the same e2e suite. */
  @IsIn(HTTP_ADAPTERS)
  HTTP_ADAPTER: HttpAdapterName = 'express';

  /** Refresh-ahead: sweep interval in ms (0 turns the scheduled sweep off). */
  @IsInt()
  @Min(0)
  REFRESH_INTERVAL_MS: number = 5000;

  /** Refresh-ahead: refresh a hot key when less than this fraction of its TTL is left. */
  @IsNumber()
  @Min(0.01)
  @Max(0.99)
  REFRESH_THRESHOLD: number = 0.25;

  /** Refresh-ahead: at most this many Postgres reloads per sweep. */
  @IsInt()
  @Min(1)
  REFRESH_BUDGET: number = 100;

  /** Refresh-ahead: the hot set keeps at most this many ids. */
  @IsInt()
  @Min(1)
  HOT_KEYS_MAX: number = 1000;

  /** Refresh-ahead: an id's access count halves every this many seconds without reads. */
  @IsNumber()
  @Min(1)
  HOT_HALF_LIFE_SECONDS: number = 300;

  /** Refresh-ahead: decayed accesses an id needs to count as hot. */
  @IsNumber()
  @Min(0)
  HOT_MIN_SCORE: number = 2;

  /** Refresh-ahead: sorted sets the hot set is split over (by id), so on a Redis Cluster it spans this many slots. */
  @IsInt()
  @Min(1)
  @Max(64)
  HOT_SET_SHARDS: number = 1;

  /** Refresh-ahead: XFetch beta for early refresh on reads; 0 turns it off. */
  @IsNumber()
  @Min(0)
  XFETCH_BETA: number = 1;

  /** Write-behind: `all` serves HTTP and flushes, `api` only serves, `worker` only flushes (no HTTP). */
  @IsIn(['all', 'api', 'worker'])
  WRITE_BEHIND_ROLE: 'all' | 'api' | 'worker' = 'all';

  /** Write-behind: changes per Postgres statement. */
  @IsInt()
  @Min(1)
  @Max(10000)
  WRITE_BEHIND_BATCH_SIZE: number = 500;

  /** Write-behind: how long a change waits for others to join its batch, in ms. */
  @IsInt()
  @Min(0)
  WRITE_BEHIND_BATCH_DELAY_MS: number = 100;

  /** Write-behind: a flush is scheduled at least this often, in ms (safety net for lost triggers). */
  @IsInt()
  @Min(100)
  WRITE_BEHIND_FLUSH_INTERVAL_MS: number = 1000;

  /** Write-behind: failures before a change goes to the dead-letter list. */
  @IsInt()
  @Min(1)
  WRITE_BEHIND_MAX_ATTEMPTS: number = 5;

  /** Write-behind: first retry delay of a failed change, doubling per attempt with jitter, in ms. */
  @IsInt()
  @Min(1)
  WRITE_BEHIND_BACKOFF_MS: number = 500;

  /** Write-behind: a claimed change not acknowledged within this time is flushed again, in ms. */
  @IsInt()
  @Min(100)
  WRITE_BEHIND_CLAIM_TIMEOUT_MS: number = 30000;

  /**
   * Write-behind: records with unflushed changes at most; past it new records' changes get 503 (changes of
   * records already pending are still taken) until the flusher brings it below 90 %. 0 sets no limit.
   */
  @IsInt()
  @Min(0)
  WRITE_BEHIND_MAX_PENDING: number = 1_000_000;

  /** Write-behind: with Redis's used memory past this fraction of `maxmemory`, writes get 503 (Retry-After). */
  @IsNumber()
  @Min(0.1)
  @Max(1)
  WRITE_BEHIND_MEMORY_HIGH_WATER: number = 0.9;

  /** Write-behind: writes are accepted again once used memory is below this fraction of `maxmemory`. */
  @IsNumber()
  @Min(0.05)
  @Max(1)
  WRITE_BEHIND_MEMORY_LOW_WATER: number = 0.8;

  /**
   * Write-behind: accept writes even when Redis's `maxmemory-policy` may evict keys without a TTL (`allkeys-*`),
   * which can silently lose acknowledged writes. For experiments only; logged loudly while on.
   */
  @Transform(toBoolean)
  @IsBoolean()
  WRITE_BEHIND_ALLOW_EVICTION: boolean = false;

  /** Blog: posts seeded on first start, when the table is empty (0 seeds nothing). */
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  BLOG_SEED_POSTS: number = 500_000;

  /** Blog: posts per cached chunk of the full list (by id range); a write rebuilds only its chunk. */
  @IsInt()
  @Min(100)
  @Max(100_000)
  BLOG_CHUNK_SIZE: number = 1000;

  /** Blog: how long list chunks and pages stay in Redis, in seconds. */
  @IsInt()
  @Min(1)
  BLOG_LIST_TTL_SECONDS: number = 3600;

  /** Blog: chunks built at once on a miss or a warm (Postgres builds the JSON, one core per chunk). */
  @IsInt()
  @Min(1)
  @Max(16)
  BLOG_BUILD_CONCURRENCY: number = 2;

  /** Blog: build every list chunk at start, so the first full read is a hit. */
  @Transform(toBoolean)
  @IsBoolean()
  BLOG_WARM_ON_START: boolean = true;

  /**
   * Dashboard: the apps it shows, as `name=url` pairs separated by commas. Defaults to the five pattern apps
   * on localhost at their default ports.
   */
  @IsOptional()
  @Matches(/^[a-z][a-z0-9-]*=https?:\/\/[^\s,=]+(,[a-z][a-z0-9-]*=https?:\/\/[^\s,=]+)*$/, {
    message: 'DASHBOARD_APPS must be name=http://host:port pairs separated by commas',
  })
  DASHBOARD_APPS?: string;

  /** Dashboard: the `npm run bench` results it charts. */
  @IsString()
  DASHBOARD_BENCH_RESULTS: string = 'bench/results/results.json';

  /** When set, admin endpoints require `Authorization: Bearer <ADMIN_TOKEN>`. */
  @IsOptional()
  @IsString()
  @MinLength(8)
  ADMIN_TOKEN?: string;

  /** With no `ADMIN_TOKEN`, admin endpoints are closed (403) unless this is true: for local demos only. */
  @Transform(toBoolean)
  @IsBoolean()
  ADMIN_OPEN: boolean = false;

  /** Serve the OpenAPI document and Swagger UI at `/docs`. */
  @Transform(toBoolean)
  @IsBoolean()
  SWAGGER_ENABLED: boolean = true;

  /** The most detailed level logged: `fatal`, `error`, `warn`, `log`, `debug` or `verbose`. */
  @IsIn(['fatal', 'error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  /**
   * `pretty` (coloured text), `text` (plain text) or `json` (one object a line). Unset: `pretty` on a terminal,
   * `json` otherwise (a file, a pipe, a log collector).
   */
  @IsOptional()
  @IsIn(['pretty', 'text', 'json'])
  LOG_FORMAT?: 'pretty' | 'text' | 'json';

  /** Log every request (method, route template, status, duration, X-Cache) at `log` level; else at `debug`. */
  @Transform(toBoolean)
  @IsBoolean()
  LOG_REQUESTS: boolean = false;
}

/**
 * Validates an environment (by default `process.env`) into an {@link AppConfig}.
 * Throws {@link InvalidConfigError} listing every bad variable, never just the first.
 */
export function loadAppConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = knownVariables();
  const present = Object.fromEntries(
    Object.entries(env).filter(([key, value]) => known.includes(key) && value !== undefined && value !== ''),
  );
  const config = plainToInstance(AppConfig, present, { enableImplicitConversion: true, exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: false, forbidUnknownValues: true });
  if (errors.length > 0) {
    throw new InvalidConfigError(
      errors.map(
        (error) =>
          `${error.property}=${JSON.stringify(env[error.property])}: ${Object.values(error.constraints ?? {}).join('; ')}`,
      ),
    );
  }
  return config;
}

/** Every variable {@link AppConfig} declares, read off its validation rules (optional ones have no default to list). */
export function knownVariables(): string[] {
  const rules = getMetadataStorage().getTargetValidationMetadatas(AppConfig, '', true, false);
  return [...new Set(rules.map((rule) => rule.propertyName))];
}
