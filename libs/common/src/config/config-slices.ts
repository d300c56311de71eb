import type { AppConfig, HttpAdapterName } from './app-config';
import { PATTERN_PORTS } from '../patterns';

/**
 * The validated environment, mapped once into the slices the code receives. Each slice is a class, so a
 * consumer injects the part it needs by type (`constructor(private readonly cache: CacheConfig)`) and nothing
 * outside this file reads an environment variable's name.
 */

/** Who this app is, and the schema and key prefix that keep it apart from the other apps and from tests. */
export class AppIdentity {
  /** The app's name (`cache-aside`, `blog`, ...): its default schema, key prefix and connection names. */
  readonly name: string;
  /** Postgres schema of this app's tables: `DATABASE_SCHEMA`, else the name with `_` for `-`. */
  readonly schema: string;
  /** Starts every Redis key of this app: `REDIS_KEY_PREFIX`, else `<name>:`. */
  readonly keyPrefix: string;

  constructor(name: string, env: AppConfig) {
    this.name = name;
    this.schema = env.DATABASE_SCHEMA ?? name.replace(/-/g, '_');
    this.keyPrefix = env.REDIS_KEY_PREFIX ?? `${name}:`;
  }
}

export class HttpConfig {
  readonly port?: number;
  readonly host: string;
  readonly adapter: HttpAdapterName;
  readonly swagger: boolean;
  readonly logLevel: AppConfig['LOG_LEVEL'];
  readonly logFormat: 'pretty' | 'text' | 'json';
  /** Requests are logged at `log` level when true, at `debug` otherwise. */
  readonly logRequests: boolean;
  /** The metrics-only port of an app that runs without HTTP. */
  readonly metricsPort: number;
  /** How long the answer to a write with an `Idempotency-Key` is kept. */
  readonly idempotencyTtlSeconds: number;
  /** Admin endpoints need `Authorization: Bearer <adminToken>` when set. */
  readonly adminToken?: string;
  /** With no token, admin endpoints are open only when this is true (local demos). */
  readonly adminOpen: boolean;

  constructor(env: AppConfig) {
    this.port = env.PORT;
    this.host = env.HOST;
    this.adapter = env.HTTP_ADAPTER;
    this.swagger = env.SWAGGER_ENABLED;
    this.logLevel = env.LOG_LEVEL;
    this.logFormat = env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
    this.logRequests = env.LOG_REQUESTS;
    this.metricsPort = env.METRICS_PORT;
    this.idempotencyTtlSeconds = env.IDEMPOTENCY_TTL_SECONDS;
    this.adminToken = env.ADMIN_TOKEN;
    this.adminOpen = env.ADMIN_OPEN;
  }
}

export class DatabaseConfig {
  readonly url: string;
  readonly poolSize: number;
  /** Bounds connecting and any one statement. */
  readonly timeoutMs: number;

  /** Streaming read replicas of `url`; empty when every read goes to the primary. */
  readonly replicaUrls: string[];
  /** A replica whose replay lag is past this is skipped. */
  readonly replicaMaxLagMs: number;
  /** How long a read with no row version waits for a replica to replay the primary's position. */
  readonly replicaReplayWaitMs: number;

  constructor(env: AppConfig) {
    this.url = env.DATABASE_URL;
    this.poolSize = env.DATABASE_POOL_SIZE;
    this.timeoutMs = env.DATABASE_TIMEOUT_MS;
    this.replicaUrls = (env.DATABASE_REPLICA_URLS ?? '').split(',').filter((url) => url !== '');
    this.replicaMaxLagMs = env.DATABASE_REPLICA_MAX_LAG_MS;
    this.replicaReplayWaitMs = env.DATABASE_REPLICA_REPLAY_WAIT_MS;
  }
}

/** The Redis connections and the record cache's TTLs. */
export class CacheConfig {
  readonly redisUrl: string;
  /** Seed nodes of a Redis Cluster; empty for a single Redis at `redisUrl`. */
  readonly clusterNodes: { host: string; port: number }[];
  /** Cluster only: replicas that must have an accepted write-behind change before it is acknowledged. */
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  /** A cache read slower than this fails, and the request goes on without Redis. */
  readonly commandTimeoutMs: number;
  /** The same for commands on the write path, whose timeout leaves a write's outcome unknown. */
  readonly writeTimeoutMs: number;
  /** Consecutive failed reads after which reads skip Redis for a while; 0 turns the breaker off. */
  readonly breakerFailures: number;
  readonly ttlSeconds: number;
  /** Fraction of the TTL taken off at random (0.1 = up to 10% shorter). */
  readonly ttlJitter: number;
  /** How long a missing id is cached as absent, by strategies that do negative caching. */
  readonly negativeTtlSeconds: number;
  /** How long an entry is kept past its TTL, stale, to answer when Postgres fails or is slow (0: off). */
  readonly graceSeconds: number;
  /** With a grace copy: how long a read waits for Postgres before it answers the stale copy. */
  readonly softTimeoutMs: number;
  /** How long a read waits for Postgres after a miss at most. */
  readonly loadTimeoutMs: number;
  /** How long a reader may take between a miss and its fill; a slower fill is dropped. */
  readonly leaseTtlMs = 10_000;
  /** How long a reader waits for another reader's fill before it loads the row itself (without filling). */
  readonly leaseWaitMs: number;
  /** The in-process near cache: its size (0 = off) and its entries' lifetime. */
  readonly nearMaxEntries: number;
  readonly nearTtlMs: number;
  /** How often Redis's memory settings and usage are read again (also at start and after a reconnect). */
  readonly memoryCheckMs: number;

  get cluster(): boolean {
    return this.clusterNodes.length > 0;
  }

  constructor(env: AppConfig) {
    this.redisUrl = env.REDIS_URL;
    this.clusterNodes = (env.REDIS_CLUSTER_NODES ?? '')
      .split(',')
      .filter((node) => node !== '')
      .map((node) => {
        const [host, port] = node.split(':');
        return { host: host!, port: Number(port) };
      });
    this.waitReplicas = env.REDIS_WAIT_REPLICAS;
    this.waitTimeoutMs = env.REDIS_WAIT_TIMEOUT_MS;
    this.commandTimeoutMs = env.REDIS_COMMAND_TIMEOUT_MS;
    this.writeTimeoutMs = env.REDIS_WRITE_TIMEOUT_MS;
    this.breakerFailures = env.REDIS_BREAKER_FAILURES;
    this.ttlSeconds = env.CACHE_TTL_SECONDS;
    this.ttlJitter = env.CACHE_TTL_JITTER;
    this.negativeTtlSeconds = env.NEGATIVE_TTL_SECONDS;
    this.graceSeconds = env.CACHE_GRACE_SECONDS;
    this.softTimeoutMs = env.CACHE_SOFT_TIMEOUT_MS;
    this.loadTimeoutMs = env.CACHE_LOAD_TIMEOUT_MS;
    this.leaseWaitMs = env.CACHE_LEASE_WAIT_MS;
    this.nearMaxEntries = env.NEAR_CACHE_MAX_ENTRIES;
    this.nearTtlMs = env.NEAR_CACHE_TTL_MS;
    this.memoryCheckMs = env.REDIS_MEMORY_CHECK_MS;
  }
}

/** The invalidation outbox; docs/consistency.md explains it. */
export class OutboxConfig {
  readonly enabled: boolean;
  readonly sweepMs: number;
  readonly confirmWaitMs: number;

  constructor(env: AppConfig) {
    this.enabled = env.INVALIDATION_OUTBOX;
    this.sweepMs = env.OUTBOX_SWEEP_MS;
    this.confirmWaitMs = env.OUTBOX_CONFIRM_WAIT_MS;
  }
}

/** Tuning of write-behind; docs/patterns.md and docs/operations.md explain each. */
export class WriteBehindConfig {
  /** `all` serves HTTP and flushes; `api` only serves; `worker` only flushes (no HTTP). */
  readonly role: AppConfig['WRITE_BEHIND_ROLE'];
  /** Changes per Postgres statement. */
  readonly batchSize: number;
  /** How long a change may wait for others to join its batch, in ms. */
  readonly batchDelayMs: number;
  /** Safety net: a flush is scheduled at least this often even if a trigger was lost, in ms. */
  readonly flushIntervalMs: number;
  /** A change that failed this many times goes to the dead-letter list. */
  readonly maxAttempts: number;
  /** First retry delay of a failed change; doubles per attempt, with jitter, up to 60 s. */
  readonly backoffMs: number;
  /** A claimed change not acknowledged within this time (its worker died) is flushed again, in ms. */
  readonly claimTimeoutMs: number;
  /** Records with unflushed changes at most (0: no limit); new records' changes get 503 past it. */
  readonly maxPending: number;
  /** Fractions of Redis's `maxmemory`: refuse writes above `high`, accept again below `low`. */
  readonly memoryHighWater: number;
  readonly memoryLowWater: number;
  /** Accept writes under a policy that may evict unflushed changes (experiments only). */
  readonly allowEviction: boolean;

  constructor(env: AppConfig) {
    this.role = env.WRITE_BEHIND_ROLE;
    this.batchSize = env.WRITE_BEHIND_BATCH_SIZE;
    this.batchDelayMs = env.WRITE_BEHIND_BATCH_DELAY_MS;
    this.flushIntervalMs = env.WRITE_BEHIND_FLUSH_INTERVAL_MS;
    this.maxAttempts = env.WRITE_BEHIND_MAX_ATTEMPTS;
    this.backoffMs = env.WRITE_BEHIND_BACKOFF_MS;
    this.claimTimeoutMs = env.WRITE_BEHIND_CLAIM_TIMEOUT_MS;
    this.maxPending = env.WRITE_BEHIND_MAX_PENDING;
    this.memoryHighWater = env.WRITE_BEHIND_MEMORY_HIGH_WATER;
    this.memoryLowWater = Math.min(env.WRITE_BEHIND_MEMORY_LOW_WATER, env.WRITE_BEHIND_MEMORY_HIGH_WATER);
    this.allowEviction = env.WRITE_BEHIND_ALLOW_EVICTION;
  }
}

/** Tuning of refresh-ahead; docs/patterns.md explains each in a few lines. */
export class RefreshAheadConfig {
  /** How often the sweep runs, in ms; 0 turns the scheduled sweep off (tests call `sweep()` directly). */
  readonly sweepIntervalMs: number;
  /** A hot key is refreshed when less than this fraction of its TTL is left. */
  readonly threshold: number;
  /** At most this many keys are reloaded from Postgres per sweep. */
  readonly budget: number;
  /** The hot set keeps at most this many ids. */
  readonly hotKeysMax: number;
  /** A key's access count halves every this many seconds without reads. */
  readonly hotHalfLifeSeconds: number;
  /** Decayed accesses a key needs to count as hot. */
  readonly hotMinScore: number;
  /** XFetch's beta: larger refreshes earlier; 0 turns early refresh on reads off. */
  readonly xfetchBeta: number;
  /** Sorted sets the hot set is split over, each keeping `ceil(hotKeysMax / hotShards)` ids. */
  readonly hotShards: number;

  constructor(env: AppConfig) {
    this.sweepIntervalMs = env.REFRESH_INTERVAL_MS;
    this.threshold = env.REFRESH_THRESHOLD;
    this.budget = env.REFRESH_BUDGET;
    this.hotKeysMax = env.HOT_KEYS_MAX;
    this.hotHalfLifeSeconds = env.HOT_HALF_LIFE_SECONDS;
    this.hotMinScore = env.HOT_MIN_SCORE;
    this.xfetchBeta = env.XFETCH_BETA;
    this.hotShards = env.HOT_SET_SHARDS;
  }
}

/** The blog demo's dataset and list cache. */
export class BlogConfig {
  /** Posts seeded on first start, when the table is empty (0 seeds nothing). */
  readonly seedPosts: number;
  /** Posts per cached chunk of the full list. */
  readonly chunkSize: number;
  readonly listTtlSeconds: number;
  /** Chunks built at once on a miss or a warm. */
  readonly buildConcurrency: number;
  /** Build every list chunk at start. */
  readonly warmOnStart: boolean;

  constructor(env: AppConfig) {
    this.seedPosts = env.BLOG_SEED_POSTS;
    this.chunkSize = env.BLOG_CHUNK_SIZE;
    this.listTtlSeconds = env.BLOG_LIST_TTL_SECONDS;
    this.buildConcurrency = env.BLOG_BUILD_CONCURRENCY;
    this.warmOnStart = env.BLOG_WARM_ON_START;
  }
}

/** The five pattern apps at their default ports: what the dashboard shows unless `DASHBOARD_APPS` says otherwise. */
export const DEFAULT_DASHBOARD_APPS: Record<string, string> = Object.fromEntries(
  Object.entries(PATTERN_PORTS).map(([pattern, port]) => [pattern, `http://127.0.0.1:${port}`]),
);

export class DashboardConfig {
  /** The apps shown, in order: name and base URL. */
  readonly apps: { name: string; url: string }[];
  /** Path of the bench results (`results.json`) to chart. */
  readonly benchResults: string;

  constructor(env: AppConfig) {
    const pairs =
      env.DASHBOARD_APPS === undefined
        ? Object.entries(DEFAULT_DASHBOARD_APPS)
        : env.DASHBOARD_APPS.split(',').map((pair) => pair.split('=') as [string, string]);
    this.apps = pairs.map(([name, url]) => ({ name, url: url.replace(/\/+$/, '') }));
    this.benchResults = env.DASHBOARD_BENCH_RESULTS;
  }
}

/** Every slice of one app's configuration. */
export interface ConfigSlices {
  identity: AppIdentity;
  http: HttpConfig;
  database: DatabaseConfig;
  cache: CacheConfig;
  outbox: OutboxConfig;
  writeBehind: WriteBehindConfig;
  refreshAhead: RefreshAheadConfig;
  blog: BlogConfig;
  dashboard: DashboardConfig;
}

/** Maps the validated environment into its slices, once per app. */
export function sliceConfig(name: string, env: AppConfig): ConfigSlices {
  return {
    identity: new AppIdentity(name, env),
    http: new HttpConfig(env),
    database: new DatabaseConfig(env),
    cache: new CacheConfig(env),
    outbox: new OutboxConfig(env),
    writeBehind: new WriteBehindConfig(env),
    refreshAhead: new RefreshAheadConfig(env),
    blog: new BlogConfig(env),
    dashboard: new DashboardConfig(env),
  };
}
