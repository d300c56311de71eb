import { earlyRefreshWindowMs, shouldRefreshEarly } from './xfetch';

describe('shouldRefreshEarly (XFetch)', () => {
  it('never refreshes when beta is 0 or the key has no TTL', () => {
    expect(shouldRefreshEarly(1, 1000, 0, 0.001)).toBe(false);
    expect(shouldRefreshEarly(-1, 1000, 1, 0.001)).toBe(false);
  });

  it('refreshes when delta·beta·(−ln r) reaches the time left', () => {
    // −ln(0.5) ≈ 0.693
    expect(shouldRefreshEarly(600, 1000, 1, 0.5)).toBe(true);
    expect(shouldRefreshEarly(800, 1000, 1, 0.5)).toBe(false);
    expect(shouldRefreshEarly(800, 1000, 2, 0.5)).toBe(true);
  });

  it('gets likelier as expiry nears', () => {
    const rate = (ttlLeftMs: number): number => {
      let hits = 0;
      for (let i = 1; i <= 10_000; i += 1) if (shouldRefreshEarly(ttlLeftMs, 10, 1, i / 10_001)) hits += 1;
      return hits / 10_000;
    };
    expect(rate(1)).toBeGreaterThan(rate(10));
    expect(rate(10)).toBeGreaterThan(rate(50));
    expect(rate(1000)).toBe(0);
  });

  it('leaves out only refreshes that are rarer than 1 in 20,000 reads beyond its window', () => {
    expect(earlyRefreshWindowMs(10, 0)).toBe(0);
    const window = earlyRefreshWindowMs(10, 1);
    expect(window).toBe(100);
    // Past the window, even a draw of 1 in 20,000 does not refresh; just within it, such a draw does.
    expect(shouldRefreshEarly(window, 10, 1, 1 / 20_000)).toBe(false);
    expect(shouldRefreshEarly(window - 2, 10, 1, 1 / 20_000)).toBe(true);
  });
});
