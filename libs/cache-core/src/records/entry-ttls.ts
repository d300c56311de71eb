import { CacheConfig } from '@app/common';
import { Injectable } from '@nestjs/common';

/** How long the records' entries live: `CACHE_TTL_SECONDS` with jitter, and the shorter TTL of "absent". */
@Injectable()
export class EntryTtls {
  constructor(private readonly config: CacheConfig) {}

  /** The configured TTL, before jitter, in ms: tombstones live this long. */
  get fullMs(): number {
    return this.config.ttlSeconds * 1000;
  }

  /** An entry's TTL in ms, shortened by up to `CACHE_TTL_JITTER` so entries filled together expire apart. */
  jittered(): number {
    return Math.round(this.config.ttlSeconds * 1000 * (1 - this.config.ttlJitter * Math.random()));
  }

  /** The TTL of a record cached as absent, in ms. */
  negativeMs(): number {
    return this.config.negativeTtlSeconds * 1000;
  }
}
