import { OutboxConfig } from '@app/common';
import { Injectable } from '@nestjs/common';

/** What is remembered of recent applies, for a writer that starts waiting after the confirmation came. */
const RECENT_LIMIT = 10_000;

interface Waiter {
  version?: number;
  resolve: (confirmed: boolean) => void;
}

/**
 * Confirmations that committed changes reached Redis, from any instance (the outbox's `applied` channel). A write
 * whose own invalidation could not reach Redis (this instance is cut off from it) waits here, bounded by
 * `OUTBOX_CONFIRM_WAIT_MS`, until another instance has applied it: then no read anywhere that starts after the
 * answer sees the old entry. It waits only while another instance said lately that it reaches Redis: when
 * nobody does, nobody reads from Redis either, and waiting would only slow every write.
 */
@Injectable()
export class ChangeConfirmations {
  private readonly recent = new Map<number, { version: number; at: number }>();
  private readonly waiters = new Map<number, Set<Waiter>>();
  private lastPeerAt = Number.NEGATIVE_INFINITY;
  private counters = { confirmed: 0, unconfirmed: 0 };

  constructor(private readonly config: OutboxConfig) {}

  /** Another instance said it reaches Redis. */
  peerAlive(): void {
    this.lastPeerAt = Date.now();
  }

  /** True while another instance said so within three sweeps. */
  get peerReachesRedis(): boolean {
    return Date.now() - this.lastPeerAt < 3 * this.config.sweepMs + 1000;
  }

  /** Change `version` of record `id` is in Redis (applied by anyone). */
  applied(id: number, version: number): void {
    const at = Date.now();
    const known = this.recent.get(id);
    this.recent.delete(id);
    this.recent.set(id, { version: Math.max(version, known?.version ?? version), at });
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value!);
    for (const waiter of this.waiters.get(id) ?? []) {
      if (waiter.version === undefined || version >= waiter.version) waiter.resolve(true);
    }
  }

  /**
   * Waits until a change of `id` at `version` or later (without a version: any change applied after `since`) is
   * confirmed; false when it was not within the wait, or when no other instance reaches Redis.
   */
  async wait(id: number, version: number | undefined, since: number): Promise<boolean> {
    if (!this.config.enabled || this.config.confirmWaitMs === 0) return false;
    const known = this.recent.get(id);
    if (known !== undefined && (version === undefined ? known.at >= since : known.version >= version)) return true;
    if (!this.peerReachesRedis) return false;
    const confirmed = await new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const waiter: Waiter = {
        version,
        resolve: (value) => {
          clearTimeout(timer);
          this.waiters.get(id)?.delete(waiter);
          if (this.waiters.get(id)?.size === 0) this.waiters.delete(id);
          resolve(value);
        },
      };
      timer = setTimeout(() => waiter.resolve(false), this.config.confirmWaitMs);
      const set = this.waiters.get(id) ?? new Set<Waiter>();
      set.add(waiter);
      this.waiters.set(id, set);
    });
    this.counters[confirmed ? 'confirmed' : 'unconfirmed'] += 1;
    return confirmed;
  }

  snapshot(): { confirmedByPeers: number; unconfirmed: number } {
    return { confirmedByPeers: this.counters.confirmed, unconfirmed: this.counters.unconfirmed };
  }
}
