import { BuildSlots } from './build-slots';

describe('BuildSlots', () => {
  it('runs at most `size` at once, the rest in arrival order, and frees slots on failure', async () => {
    const slots = new BuildSlots(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const job = (n: number, fail = false) =>
      slots.run(async () => {
        running += 1;
        peak = Math.max(peak, running);
        order.push(n);
        await new Promise<void>((resolve) => releases.push(resolve));
        running -= 1;
        if (fail) throw new Error('build failed');
        return n;
      });
    const failed = job(1, true).catch((error: Error) => error.message);
    const jobs = [job(2), job(3), job(4)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([1, 2]);
    while (releases.length > 0 || order.length < 4) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await failed).toBe('build failed');
    expect(await Promise.all(jobs)).toEqual([2, 3, 4]);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(peak).toBe(2);
  });
});
