import { CacheStats, CacheStrategy, readHeaders } from '@app/cache-core';
import { CacheConfig, InvalidInputError, NotFoundError, type WriteOptions } from '@app/common';
import { Injectable } from '@nestjs/common';
import type { NewUser, UserChanges, UserRecord } from './user/user.record';
import { userNotFoundMessage } from './user/user.record';

/** Users through the app's one caching strategy, timed into the app's stats. */
@Injectable()
export class UsersService {
  constructor(
    private readonly strategy: CacheStrategy<UserRecord, NewUser, UserChanges>,
    private readonly stats: CacheStats,
    private readonly cacheConfig: CacheConfig,
  ) {}

  /** The record, and the headers that say how the cache answered (`X-Cache`, `Cache-Status`, `Age`). */
  async get(id: number): Promise<{ user: UserRecord; headers: Record<string, string> }> {
    const read = await this.stats.timeRead(() => this.strategy.get(id));
    if (read.value === null) throw new NotFoundError(userNotFoundMessage(id));
    return { user: read.value, headers: readHeaders(this.strategy.pattern, read, this.cacheConfig.ttlSeconds) };
  }

  create(input: NewUser, options?: WriteOptions<UserRecord>): Promise<UserRecord> {
    return this.stats.timeWrite(() => this.strategy.create(input, options));
  }

  update(id: number, changes: UserChanges, options?: WriteOptions<UserRecord>): Promise<UserRecord> {
    if (Object.values(changes).every((value) => value === undefined)) {
      throw new InvalidInputError('Send at least one of name, email, age');
    }
    return this.stats.timeWrite(() => this.strategy.update(id, changes, options));
  }

  remove(id: number, options?: WriteOptions<UserRecord>): Promise<void> {
    return this.stats.timeWrite(() => this.strategy.remove(id, options));
  }
}
