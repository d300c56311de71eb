import { OwedInvalidations } from './owed-invalidations';

describe('OwedInvalidations', () => {
  it('keeps what the payer failed to apply, and forgets what it applied', async () => {
    const paid: (number[] | 'everything')[] = [];
    let fail = true;
    const owed = new OwedInvalidations<number>((keys) => {
      if (fail) return Promise.reject(new Error('Redis away'));
      paid.push(keys);
      return Promise.resolve();
    });
    owed.add(1);
    owed.add(2);
    await expect(owed.pay()).rejects.toThrow('Redis away');
    expect(owed.owes(1)).toBe(true);
    fail = false;
    await owed.pay();
    expect(paid).toEqual([[1, 2]]);
    expect(owed.any).toBe(false);
  });

  it('turns into one "everything" debt past its limit', async () => {
    const paid: (number[] | 'everything')[] = [];
    const owed = new OwedInvalidations<number>((keys) => {
      paid.push(keys);
      return Promise.resolve();
    }, 2);
    owed.add(1);
    owed.add(2);
    owed.add(3);
    expect(owed.size).toBe(0);
    expect(owed.owes(99)).toBe(true);
    await owed.pay();
    expect(paid).toEqual(['everything']);
    expect(owed.owes(99)).toBe(false);
  });

  it('forgets a key whose later invalidation succeeded', () => {
    const owed = new OwedInvalidations<number>(() => Promise.resolve());
    owed.add(7);
    owed.settled(7);
    expect(owed.any).toBe(false);
  });
});
