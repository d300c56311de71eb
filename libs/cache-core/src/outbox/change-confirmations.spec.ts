import { loadAppConfig, OutboxConfig } from '@app/common';
import { ChangeConfirmations } from './change-confirmations';

function confirmations(env: Record<string, string> = {}): ChangeConfirmations {
  return new ChangeConfirmations(new OutboxConfig(loadAppConfig({ OUTBOX_CONFIRM_WAIT_MS: '1000', ...env })));
}

describe('ChangeConfirmations', () => {
  it('counts a change a peer applied before the writer began to wait as confirmed', async () => {
    const known = confirmations();
    known.peerAlive();
    known.applied(7, 3);
    await expect(known.wait(7, 3, Date.now())).resolves.toBe(true);
    expect(known.snapshot()).toMatchObject({ confirmedByPeers: 1, unconfirmed: 0 });
  });

  it('counts a change a peer applies while the writer waits as confirmed', async () => {
    const waiting = confirmations();
    waiting.peerAlive();
    const confirmed = waiting.wait(7, 3, Date.now());
    waiting.applied(7, 2);
    waiting.applied(7, 3);
    await expect(confirmed).resolves.toBe(true);
    expect(waiting.snapshot()).toMatchObject({ confirmedByPeers: 1, unconfirmed: 0 });
  });

  it('does not wait, nor count, when it has heard the channels for a while and no peer said it reaches Redis', async () => {
    // A window of 2 sweeps + 500 ms: heard for longer than that, silence means nobody reaches Redis.
    const alone = confirmations({ OUTBOX_SWEEP_MS: '100' });
    alone.hearing(true);
    await new Promise((done) => setTimeout(done, 750));
    const started = Date.now();
    await expect(alone.wait(7, 3, started)).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(100);
    expect(alone.snapshot()).toMatchObject({ confirmedByPeers: 0, unconfirmed: 0 });
  });

  it('waits, and asks Postgres, when it has not heard the channels long enough to know', async () => {
    // Deaf (its feed down, or back only a moment ago): no heartbeat heard is no evidence that nobody reaches Redis.
    const deaf = confirmations({ OUTBOX_SWEEP_MS: '100' });
    const asked: [number, number | undefined][] = [];
    let appliedInPostgres = false;
    deaf.probeWith((id, version) => {
      asked.push([id, version]);
      return Promise.resolve(appliedInPostgres);
    });
    const confirmed = deaf.wait(7, 3, Date.now());
    await new Promise((done) => setTimeout(done, 60));
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked[0]).toEqual([7, 3]);
    appliedInPostgres = true;
    await expect(confirmed).resolves.toBe(true);
    expect(deaf.snapshot()).toMatchObject({ confirmedByPeers: 1, unconfirmed: 0 });
  });

  it('a writer just back to hearing waits for a confirmation, and gives up after OUTBOX_CONFIRM_WAIT_MS', async () => {
    const back = confirmations({ OUTBOX_SWEEP_MS: '100', OUTBOX_CONFIRM_WAIT_MS: '100' });
    back.hearing(true);
    back.probeWith(() => Promise.resolve(false));
    const started = Date.now();
    await expect(back.wait(7, 3, started)).resolves.toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(back.snapshot()).toMatchObject({ confirmedByPeers: 0, unconfirmed: 1 });
  });

  it('keeps a notified change unapplied until a version at least as new is applied', () => {
    const reads = confirmations();
    reads.notified(9, 4);
    reads.applied(9, 3);
    expect(reads.isUnapplied(9)).toBe(true);
    reads.applied(9, 4);
    expect(reads.isUnapplied(9)).toBe(false);
  });
});
