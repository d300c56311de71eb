import { createHook } from 'node:async_hooks';

/**
 * Runs `work` and reports the timers it armed from a call stack that names every one of `frames` (functions, as
 * V8 writes them: `Class.method`): how many, and how many of them were still armed (neither fired nor cleared)
 * once it was done. A timer left armed keeps a stopping process alive until it fires, and then runs against what
 * was already closed.
 */
export async function timersArmedBy(
  frames: string[],
  work: () => Promise<void>,
): Promise<{ armed: number; left: number }> {
  let armed = 0;
  const pending = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const stack = new Error().stack!;
      if (!frames.every((frame) => stack.includes(`at ${frame} `))) return;
      armed += 1;
      pending.add(id);
    },
    destroy: (id) => void pending.delete(id),
  }).enable();
  try {
    await work();
    // A cleared timer's destroy is reported on a later turn.
    await new Promise((resolve) => setImmediate(resolve));
    return { armed, left: pending.size };
  } finally {
    hook.disable();
  }
}
