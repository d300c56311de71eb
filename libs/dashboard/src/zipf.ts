/**
 * Zipf(s) over ranks 0..n-1 by inverse CDF (rank 0 is the hottest), as in the bench: a few keys take most reads,
 * the way real traffic does. `random` is injectable for tests.
 */
export function zipfSampler(n: number, s = 0.99, random: () => number = Math.random): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k += 1) cdf[k - 1] = total += 1 / k ** s;
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cdf[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}
