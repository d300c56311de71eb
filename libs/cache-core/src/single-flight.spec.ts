import { SingleFlight } from './single-flight';

describe('SingleFlight', () => {
  it('runs concurrent calls for one key once and shares the result', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    let finish!: (value: number) => void;
    const work = (): Promise<number> => {
      runs += 1;
      return new Promise((resolve) => (finish = resolve));
    };
    const calls = [flight.run('a', work), flight.run('a', work), flight.run('a', work)];
    finish(7);
    expect(await Promise.all(calls)).toEqual([7, 7, 7]);
    expect(runs).toBe(1);
    expect(flight.size).toBe(0);
  });

  it('keeps keys apart and runs again once a call has settled', async () => {
    const flight = new SingleFlight<string>();
    expect(
      await Promise.all([flight.run('a', () => Promise.resolve('A')), flight.run('b', () => Promise.resolve('B'))]),
    ).toEqual(['A', 'B']);
    expect(await flight.run('a', () => Promise.resolve('A2'))).toBe('A2');
  });

  it('shares a rejection and then forgets it', async () => {
    const flight = new SingleFlight<string>();
    await expect(flight.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await flight.run('a', () => Promise.resolve('ok'))).toBe('ok');
  });

  it('lets calls after forget start afresh while the old call finishes alone', async () => {
    const flight = new SingleFlight<string>();
    let finishOld!: (value: string) => void;
    const old = flight.run('a', () => new Promise((resolve) => (finishOld = resolve)));
    flight.forget('a');
    const fresh = flight.run('a', () => Promise.resolve('new'));
    finishOld('old');
    expect(await old).toBe('old');
    expect(await fresh).toBe('new');
  });

  it('tells a caller whether it joined a call in flight', async () => {
    const flight = new SingleFlight<number>();
    let release!: (value: number) => void;
    const first = flight.join('k', () => new Promise<number>((resolve) => (release = resolve)));
    const second = flight.join('k', () => Promise.resolve(2));
    release(1);
    expect(await first).toEqual({ value: 1, joined: false });
    expect(await second).toEqual({ value: 1, joined: true });
  });
});
