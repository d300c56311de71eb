import { OutboxConfig } from '@app/common';
import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';

/** What is remembered of recent applies, for a writer that starts waiting after the confirmation came. */
const RECENT_LIMIT = 10_000;

/** Past this many changes known but not applied, every record counts as unapplied until a catch-up. */
const UNAPPLIED_LIMIT = 100_000;

/** How often a writer that cannot hear confirmations asks Postgres whether its change was applied, in ms. */
const PROBE_EVERY_MS = 25;

/** Asks Postgres whether every change of `id` up to `version` (any, without one) has been applied to Redis. */
export type AppliedProbe = (id: number, version: number | undefined) => Promise<boolean>;

interface Waiter {
  version?: number;
  resolve: (confirmed: boolean) => void;
}

/**
 * What this instance knows of committed changes and Redis, from the outbox's two channels.
 *
 * Unapplied changes: a change this instance was told of (its `NOTIFY`) and that nobody has applied to Redis yet.
 * Reads of those records skip Redis until it is applied, by this instance or any other (their `applied`
 * message): so even while no instance can apply it (Redis restarting), no instance reads the old entry.
 *
 * Confirmations: a write whose own invalidation could not reach Redis (this instance is cut off from it) waits,
 * bounded by `OUTBOX_CONFIRM_WAIT_MS`, until another instance has applied it; then no read anywhere that
 * starts after the answer sees the old entry. It waits only while another instance said lately that it
 * reaches Redis (the `applied` channel doubles as a heartbeat): when nobody does, waiting would only slow
 * every write, and the unapplied changes above keep the reads right. "Lately" is only known to an instance that
 * has been hearing the channels for that long: one whose feed is down, or came back only a moment ago (after
 * Postgres was away), cannot tell a silent peer from one it did not hear, so it waits too, and since the
 * `applied` message may not reach it, it also asks Postgres whether the change's outbox row is gone (rows are
 * deleted once applied to Redis).
 */
@Injectable()
export class ChangeConfirmations {
  private readonly recent = new LRUCache<number, { version: number; at: number }>({ max: RECENT_LIMIT });
  private readonly unapplied = new Map<number, { version: number; at: number }>();
  private everythingUnapplied = false;
  private readonly waiters = new Map<number, Set<Waiter>>();
  private lastPeerAt = Number.NEGATIVE_INFINITY;
  /** Since when this instance hears the outbox's channels without a break; null while it does not. */
  private hearingSince: number | null = null;
  private probe?: AppliedProbe;
  private counters = { confirmed: 0, unconfirmed: 0 };
  private readonly listeners: ((id: number) => void)[] = [];

  constructor(private readonly config: OutboxConfig) {}

  /** Another instance said it reaches Redis. */
  peerAlive(): void {
    this.lastPeerAt = Date.now();
  }

  /** True while another instance said so within about two sweeps. */
  get peerReachesRedis(): boolean {
    return Date.now() - this.lastPeerAt < this.heartbeatWindowMs;
  }

  /** The outbox's feed is up and caught up (`true`), or down (`false`). */
  hearing(on: boolean): void {
    if (!on) this.hearingSince = null;
    else this.hearingSince ??= Date.now();
  }

  /** How a writer that cannot hear confirmations asks Postgres instead. */
  probeWith(probe: AppliedProbe): void {
    this.probe = probe;
  }

  /** Whether this instance has heard the channels long enough to know that no peer spoke lately. */
  private get wouldHaveHeardPeers(): boolean {
    return this.hearingSince !== null && Date.now() - this.hearingSince >= this.heartbeatWindowMs;
  }

  private get heartbeatWindowMs(): number {
    return 2 * this.config.sweepMs + 500;
  }

  /** A committed change of `id` was announced; until it is applied, reads of `id` skip Redis. */
  notified(id: number, version: number): void {
    for (const listener of this.listeners) listener(id);
    if ((this.recent.peek(id)?.version ?? 0) >= version) return;
    const known = this.unapplied.get(id);
    if (known !== undefined && known.version >= version) return;
    this.unapplied.set(id, { version, at: Date.now() });
    if (this.unapplied.size > UNAPPLIED_LIMIT) {
      this.everythingUnapplied = true;
      this.unapplied.clear();
    }
  }

  /** Calls `listener` with the record's id each time a committed change is announced. */
  onNotified(listener: (id: number) => void): void {
    this.listeners.push(listener);
  }

  /** True while a change of `id` is known and not applied yet: do not read it from Redis. */
  isUnapplied(id: number): boolean {
    return this.everythingUnapplied || (this.unapplied.size > 0 && this.unapplied.has(id));
  }

  /** How many changes are known and not applied. */
  get unappliedCount(): number {
    return this.everythingUnapplied ? Number.POSITIVE_INFINITY : this.unapplied.size;
  }

  /**
   * A catch-up applied every row committed before `since`: what was announced before it is applied (an
   * `applied` message may have been missed).
   */
  caughtUp(since: number): void {
    this.everythingUnapplied = false;
    for (const [id, change] of this.unapplied) if (change.at < since) this.unapplied.delete(id);
  }

  /** Change `version` of record `id` is in Redis (applied by anyone). */
  applied(id: number, version: number): void {
    const at = Date.now();
    const known = this.recent.peek(id);
    this.recent.set(id, { version: Math.max(version, known?.version ?? version), at });
    const unapplied = this.unapplied.get(id);
    if (unapplied !== undefined && unapplied.version <= version) this.unapplied.delete(id);
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
    const known = this.recent.peek(id);
    if (known !== undefined && (version === undefined ? known.at >= since : known.version >= version)) {
      // Applied before this writer began to wait (another instance was quicker than this one's failed command).
      this.counters.confirmed += 1;
      return true;
    }
    const hearing = this.wouldHaveHeardPeers;
    if (!this.peerReachesRedis && hearing) return false;
    const confirmed = await new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      let waiting = true;
      const waiter: Waiter = {
        version,
        resolve: (value) => {
          if (!waiting) return;
          waiting = false;
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
      // Deaf (or just back): the `applied` message may never reach this instance; Postgres knows as well.
      const probe = this.probe;
      if (!hearing && probe !== undefined) {
        void (async () => {
          while (waiting) {
            if (await probe(id, version).catch(() => false)) waiter.resolve(true);
            else await new Promise((done) => setTimeout(done, PROBE_EVERY_MS));
          }
        })();
      }
    });
    this.counters[confirmed ? 'confirmed' : 'unconfirmed'] += 1;
    return confirmed;
  }

  snapshot(): { unapplied: number; confirmedByPeers: number; unconfirmed: number } {
    return {
      unapplied: this.unappliedCount,
      confirmedByPeers: this.counters.confirmed,
      unconfirmed: this.counters.unconfirmed,
    };
  }
}
