/**
 * Probabilistic early expiration (XFetch; Vattani, Chierichetti, Lowenstein, VLDB 2015): refresh when
 * `now − delta·beta·ln(rand) ≥ expiry`, i.e. when `−delta·beta·ln(rand) ≥ ttlLeft`. `delta` is how long a
 * reload takes; the chance rises smoothly as expiry nears, so one reader among many refreshes just before it,
 * without coordination.
 */
export function shouldRefreshEarly(ttlLeftMs: number, deltaMs: number, beta: number, random = Math.random()): boolean {
  if (beta <= 0 || ttlLeftMs < 0) return false;
  return -deltaMs * beta * Math.log(random || Number.MIN_VALUE) >= ttlLeftMs;
}

/** `−ln(rand)` above which {@link earlyRefreshWindowMs} ignores XFetch: a chance of e⁻¹⁰ (1 in 22,000) per read. */
const WINDOW_LOG_ODDS = 10;

/**
 * The time left above which a read may skip asking for the TTL: XFetch would refresh earlier than this with a
 * chance of 1 in 22,000 per read (and then the entry is simply refreshed by the sweep or reloaded on expiry).
 */
export function earlyRefreshWindowMs(deltaMs: number, beta: number): number {
  return beta <= 0 ? 0 : deltaMs * beta * WINDOW_LOG_ODDS;
}
