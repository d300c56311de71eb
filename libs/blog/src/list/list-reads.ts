import { DatabaseReplicas, type ReadSource } from '@app/common';
import { Injectable } from '@nestjs/common';

/**
 * Where the list's reads run (chunk builds, pages, the list's end): on a read replica when one has replayed
 * everything the primary had written when the read began, else on the primary. A chunk or a page is many rows with
 * no single version to hold against a floor (as a record's load does), so the check is by WAL position: the
 * primary's `pg_current_wal_lsn()`, read after the reader read its generation tokens, against the replica's
 * `pg_last_wal_replay_lsn()`. Every write acknowledged before the tokens were read committed at or before that
 * position, so a replica that has replayed it answers every such write; a write after the tokens moves a
 * generation, and the fill is dropped. Reads that fill nothing (Redis not used) stay on the primary.
 */
@Injectable()
export class ListReads {
  private readonly counters = { listReadsFromReplica: 0, listReadsFromPrimary: 0, listReplicaRefused: 0 };

  constructor(private readonly replicas: DatabaseReplicas) {}

  /**
   * Where a read that will fill Redis under tokens read just before may run: a replica, or undefined for the
   * primary. Throws when the primary fails.
   */
  async source(): Promise<ReadSource | undefined> {
    if (!this.replicas.configured) {
      this.counters.listReadsFromPrimary += 1;
      return undefined;
    }
    const { replica, refused } = await this.replicas.replayedNow();
    if (refused) this.counters.listReplicaRefused += 1;
    if (replica === undefined) this.counters.listReadsFromPrimary += 1;
    else this.counters.listReadsFromReplica += 1;
    return replica;
  }

  snapshot(): { listReadsFromReplica: number; listReadsFromPrimary: number; listReplicaRefused: number } {
    return { ...this.counters };
  }
}
