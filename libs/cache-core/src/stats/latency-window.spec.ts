import { LatencyWindow } from './latency-window';

describe('LatencyWindow', () => {
  it('reports nulls when empty', () => {
    expect(new LatencyWindow().percentiles()).toEqual({ count: 0, p50: null, p95: null, p99: null });
  });

  it('computes nearest-rank percentiles', () => {
    const window = new LatencyWindow(1000);
    for (let ms = 1; ms <= 100; ms += 1) window.record(ms);
    expect(window.percentiles()).toEqual({ count: 100, p50: 50, p95: 95, p99: 99 });
  });

  it('keeps only the most recent samples', () => {
    const window = new LatencyWindow(10);
    for (let i = 0; i < 10; i += 1) window.record(1000);
    for (let i = 0; i < 10; i += 1) window.record(1);
    expect(window.percentiles()).toEqual({ count: 10, p50: 1, p95: 1, p99: 1 });
  });
});
