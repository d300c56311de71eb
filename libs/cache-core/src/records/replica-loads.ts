import { cancelledBy, DatabaseReplicas, DatabaseUnavailableError, type ReadSource } from '@app/common';
import { Injectable } from '@nestjs/common';
import type { CacheableRecord } from '../cache-strategy';
import type { ReplicaLoadsSnapshot } from '../stats/cache-metrics';
import type { Floor } from './lease-guarded-reads';

/**
 * Loads after a miss, from a read replica when that is safe (`DATABASE_REPLICA_URLS`). A replica may not have
 * replayed a write yet that was acknowledged before the read began; so a load goes to a replica only with the
 * record's floor, which the miss's lease step brought from Redis (the version every write's invalidation leaves
 * there before the write answers, and whether the record was deleted), and a replica row older than the floor
 * (a row of a deleted record, or no row where a write left a version, as for a create) is thrown away and read
 * from the primary instead: it is never filled, nor answered. Without a floor (Redis not used for this read),
 * the primary answers.
 */
@Injectable()
export class ReplicaLoads {
  private readonly counters = { fromReplica: 0, fromPrimary: 0, refusedReplicaRows: 0 };

  constructor(private readonly replicas: DatabaseReplicas) {}

  /**
   * `find` from a replica (`from` given) if one is in use and `floor` is known and met, else from the primary. With
   * `signal`, the statement is cancelled in Postgres when it aborts (the reader gave up waiting).
   */
  async load<T extends CacheableRecord>(
    floor: Floor | undefined,
    find: (from?: ReadSource) => Promise<T | null>,
    signal?: AbortSignal,
  ): Promise<T | null> {
    const replica = floor === undefined ? undefined : this.replicas.pick();
    if (replica !== undefined) {
      try {
        const row = await find(signal === undefined ? replica : cancelledBy(replica, signal));
        if (newEnough(row, floor!)) {
          this.counters.fromReplica += 1;
          return row;
        }
        this.counters.refusedReplicaRows += 1;
      } catch (error) {
        // The replica is marked down (DatabaseReplicas) and skipped until it answers again; the primary answers.
        if (!(error instanceof DatabaseUnavailableError)) throw error;
      }
    }
    this.counters.fromPrimary += 1;
    return this.fromPrimary(find, signal);
  }

  /** `find` on the primary; with `signal`, cancelled in Postgres when it aborts. */
  fromPrimary<T>(find: (from?: ReadSource) => Promise<T | null>, signal?: AbortSignal): Promise<T | null> {
    return signal === undefined ? find() : find(cancelledBy(this.replicas.primary, signal));
  }

  snapshot(): ReplicaLoadsSnapshot {
    return { ...this.counters, replicas: this.replicas.states() };
  }

  get configured(): boolean {
    return this.replicas.configured;
  }
}

/** True when a replica's answer is at least as new as every write the cache knows of. */
export function newEnough(row: CacheableRecord | null, floor: Floor): boolean {
  if (floor.deleted) return row === null;
  return (row?.version ?? 0) >= floor.version;
}
