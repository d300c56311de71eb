import { Worker } from 'node:worker_threads';

/**
 * Timers finer than a millisecond, for the latency proxy. Node's `setTimeout` rounds every delay up to whole
 * milliseconds and wakes late by up to another (libuv's poll timeout is in ms), so a 0.25 ms hold became 1-2 ms
 * and "1 ms of round trip" was 2-4 ms. Here a worker thread sleeps in `Atomics.wait`, whose timeout is a futex
 * wait with microsecond resolution, until the earliest time asked for, and then wakes this thread's event loop
 * with a message: one wake-up per deadline, however many chunks fall due together. Nothing spins.
 *
 * That message takes 0.1-0.2 ms to reach this thread's event loop, which alone made every half round trip that
 * much longer. So the worker wakes {@link lead} ms before the deadline, and the lead follows how late the
 * wake-ups arrive (a tenth of the error each time): on average they land on the deadline. A caller treats what is
 * due within `lead` of {@link now} as due.
 *
 * Times are absolute milliseconds ({@link now}: `performance.timeOrigin + performance.now()`, the same in
 * every thread), fractional.
 */
export class PreciseClock {
  /** [0]: the deadline armed (0: none); [1]: how early the worker wakes for it, ms. */
  #deadline;
  /** [0]: bumped on every arm, so that a sleeping worker wakes to look at the new deadline. */
  #signal;
  #worker;
  /** @type {number | undefined} */
  #armed;
  /** @type {Set<() => void>} */
  #waiting = new Set();

  constructor() {
    const shared = new SharedArrayBuffer(24);
    this.#deadline = new Float64Array(shared, 0, 2);
    this.#signal = new Int32Array(shared, 16, 1);
    this.#worker = new Worker(SLEEPER, { eval: true, workerData: shared });
    this.#worker.unref();
    this.#worker.on('message', () => {
      if (this.#armed !== undefined) {
        const late = this.now() - this.#armed;
        this.#deadline[1] = Math.min(MAX_LEAD_MS, Math.max(0, this.#deadline[1] + late / 10));
      }
      this.#armed = undefined;
      const due = [...this.#waiting];
      this.#waiting.clear();
      for (const run of due) run();
    });
  }

  /** How early the worker wakes for a deadline (ms): what is due within this of {@link now} is due. */
  get lead() {
    return this.#deadline[1];
  }

  /** Absolute milliseconds, fractional, comparable across threads. */
  now() {
    return performance.timeOrigin + performance.now();
  }

  /**
   * Calls `run` once, at `at` (absolute ms) or soon after: within the kernel's timer slack (50 µs by default)
   * plus a message's trip to this thread. A `run` already waiting is not added twice; it runs at the earliest
   * time asked of it or of any other waiter, and asks again if it has more to do.
   * @param {number} at
   * @param {() => void} run
   */
  wakeAt(at, run) {
    this.#waiting.add(run);
    if (this.#armed !== undefined && this.#armed <= at) return;
    this.#armed = at;
    this.#deadline[0] = at;
    Atomics.add(this.#signal, 0, 1);
    Atomics.notify(this.#signal, 0);
  }

  /** @returns {Promise<number>} */
  close() {
    return this.#worker.terminate();
  }
}

/** The lead never grows past this, whatever a stalled event loop made one wake-up look like. */
const MAX_LEAD_MS = 0.3;

/** The worker: sleeps until the deadline (or a new one), posts once per deadline reached. */
const SLEEPER = `
const { parentPort, workerData } = require('node:worker_threads');
const deadline = new Float64Array(workerData, 0, 2);
const signal = new Int32Array(workerData, 16, 1);
let fired = -1;
for (;;) {
  const seen = Atomics.load(signal, 0);
  const at = deadline[0];
  // Once fired, wait for the next arming: the same deadline may be armed again (a wake-up that came early).
  if (at === 0 || seen === fired) {
    Atomics.wait(signal, 0, seen);
    continue;
  }
  const wait = at - deadline[1] - (performance.timeOrigin + performance.now());
  if (wait > 0) {
    Atomics.wait(signal, 0, seen, wait);
    continue;
  }
  fired = seen;
  parentPort.postMessage(0);
}
`;
