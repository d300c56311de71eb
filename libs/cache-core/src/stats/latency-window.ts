export interface LatencyPercentiles {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/**
 * The last `capacity` durations in a fixed ring (no allocation per sample); percentiles are computed on
 * demand by sorting a copy, which only `GET /stats` pays for.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(capacity = 10_000) {
    this.samples = new Float64Array(capacity);
  }

  record(durationMs: number): void {
    this.samples[this.next] = durationMs;
    this.next = (this.next + 1) % this.samples.length;
    if (this.filled < this.samples.length) this.filled += 1;
  }

  percentiles(): LatencyPercentiles {
    if (this.filled === 0) return { count: 0, p50: null, p95: null, p99: null };
    const sorted = this.samples.slice(0, this.filled).sort();
    const at = (q: number): number => {
      const value = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
      return Math.round(value * 1000) / 1000;
    };
    return { count: this.filled, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
  }

  reset(): void {
    this.next = 0;
    this.filled = 0;
  }
}
