/** What a pattern adds to `/health`: `up: false` makes it 503. */
export interface CacheHealthReport {
  up: boolean;
  /** Why it is down, or a warning while up. */
  message?: string;
  details: Record<string, unknown>;
}

/**
 * The injection token of a pattern's own health check, for the patterns that have one (write-behind: its
 * change log and whether it accepts writes); `GET /health` shows it as `cache`.
 */
export abstract class CacheHealth {
  abstract report(): CacheHealthReport;
}
