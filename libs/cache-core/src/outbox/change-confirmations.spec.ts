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

  it('does not wait, nor count, when no peer said lately that it reaches Redis', async () => {
    const alone = confirmations();
    await expect(alone.wait(7, 3, Date.now())).resolves.toBe(false);
    expect(alone.snapshot()).toMatchObject({ confirmedByPeers: 0, unconfirmed: 0 });
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
