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
