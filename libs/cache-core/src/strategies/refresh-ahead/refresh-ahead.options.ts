/** Tuning of the refresh-ahead strategy; the README explains each in a few lines. */
export interface RefreshAheadOptions {
  /** How often the sweep runs, in ms; 0 turns the scheduled sweep off (tests call `sweep()` directly). */
  sweepIntervalMs: number;
  /** A hot key is refreshed when less than this fraction of its TTL is left. */
  threshold: number;
  /** At most this many keys are reloaded from Postgres per sweep. */
  budget: number;
  /** The hot set keeps at most this many ids. */
  hotKeysMax: number;
  /** A key's access count halves every this many seconds without reads. */
  hotHalfLifeSeconds: number;
  /** Decayed accesses a key needs to count as hot. */
  hotMinScore: number;
  /** XFetch's beta: larger refreshes earlier; 0 turns early refresh on reads off. */
  xfetchBeta: number;
}

export const REFRESH_AHEAD_OPTIONS = Symbol('REFRESH_AHEAD_OPTIONS');
