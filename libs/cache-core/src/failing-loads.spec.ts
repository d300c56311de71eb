import { DatabaseUnavailableError } from '@app/common';
import { FailingLoads } from './failing-loads';

describe('FailingLoads', () => {
  it('opens on a load that found Postgres unavailable, and closes on one that answered', async () => {
    const loads = new FailingLoads();
    await expect(loads.track(Promise.reject(new DatabaseUnavailableError('down')))).rejects.toThrow('down');
    expect(loads.failing).toBe(true);
    await expect(loads.track(Promise.resolve(7))).resolves.toBe(7);
    expect(loads.failing).toBe(false);
  });

  it('stays closed on other errors (a bug, bad input): those say nothing of Postgres', async () => {
    const loads = new FailingLoads();
    await expect(loads.track(Promise.reject(new Error('bug')))).rejects.toThrow('bug');
    expect(loads.failing).toBe(false);
  });

  it('runs one probe at a time', async () => {
    const loads = new FailingLoads();
    let calls = 0;
    let answer: (value: number) => void = () => undefined;
    const load = (): Promise<number> => {
      calls += 1;
      return new Promise<number>((resolve) => (answer = resolve));
    };
    loads.probe(load);
    loads.probe(load);
    expect(calls).toBe(1);
    answer(1);
    await new Promise((resolve) => setImmediate(resolve));
    loads.probe(load);
    expect(calls).toBe(2);
  });
});
