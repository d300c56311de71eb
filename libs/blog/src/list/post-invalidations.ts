import { type CommittedChange, InvalidationTarget, RecordCache } from '@app/cache-core';
import { Injectable } from '@nestjs/common';
import { ListChunks } from './list-chunks';

/**
 * Where the blog applies committed changes of posts from the invalidation outbox: the post's entry, then the
 * list chunk that holds it (and the list's end for a new post). Changes this instance already applied itself
 * are skipped for both.
 */
@Injectable()
export class PostInvalidations extends InvalidationTarget {
  constructor(
    private readonly cache: RecordCache,
    private readonly list: ListChunks,
  ) {
    super();
  }

  get writable(): boolean {
    return this.cache.writable;
  }

  async apply(changes: CommittedChange[]): Promise<void> {
    await this.list.applyChanges(await this.cache.applyChanges(changes));
  }
}
