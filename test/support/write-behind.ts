import { WRITE_BEHIND_QUEUE } from '@app/cache-core';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { TestApp } from './test-app';
import { waitFor } from './wait-for';

/** Flushes only when asked: no debounced trigger fires within a test, the scheduler tick is far away. */
export const MANUAL_FLUSH = { WRITE_BEHIND_BATCH_DELAY_MS: '600000', WRITE_BEHIND_FLUSH_INTERVAL_MS: '600000' };

/**
 * BullMQ runs an `every` job scheduler's first job at once, so each app flushes right after it boots (which is
 * what a restarted app should do). Tests that watch changes wait in the log start only after that boot flush.
 */
export async function bootFlushDone(t: TestApp): Promise<void> {
  const queue = t.app.get<Queue>(getQueueToken(WRITE_BEHIND_QUEUE));
  await waitFor(async () => {
    const counts = await queue.getJobCounts('wait', 'active', 'prioritized');
    if (Object.values(counts).some((count) => count > 0)) return false;
    const soon = Date.now() + 60_000;
    return (await queue.getDelayed()).every((job) => job.timestamp + job.delay > soon);
  });
}
