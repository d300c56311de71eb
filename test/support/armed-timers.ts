import { createHook } from 'node:async_hooks';

/**
 * Runs `work` and reports the timers it armed from a call stack that mentions `frame` (a function's name): how
 * many, and how many of them were still armed (neither fired nor cleared) once it was done. A timer left armed
 * keeps a stopping process alive until it fires, and then runs against what was already closed.
 */
export async function timersArmedBy(
  frame: string,
  work: () => Promise<void>,
): Promise<{ armed: number; left: number }> {
  let armed = 0;
  const pending = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout' || !new Error().stack!.includes(frame)) return;
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
