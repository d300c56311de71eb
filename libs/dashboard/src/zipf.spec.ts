import { zipfSampler } from './zipf';

describe('zipfSampler', () => {
  it('stays in range and favours the first ranks', () => {
    const pick = zipfSampler(100);
    const counts = new Array<number>(100).fill(0);
    for (let i = 0; i < 20_000; i += 1) counts[pick()]! += 1;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(counts[0]!).toBeGreaterThan(counts[9]! * 5);
    expect(counts[0]!).toBeGreaterThan(counts[99]! * 50);
  });

  it('maps the edges of the unit interval to the first and last rank', () => {
    expect(zipfSampler(10, 0.99, () => 0)()).toBe(0);
    expect(zipfSampler(10, 0.99, () => 0.999999)()).toBe(9);
  });
});
