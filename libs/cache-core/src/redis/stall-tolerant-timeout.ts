import { Command } from 'ioredis';

const patched = Symbol.for('caching-patterns.stall-tolerant-command-timeout');

/** What of ioredis's `Command` this touches (its timer field is private in the typings). */
interface TimedCommand {
  isSettled: boolean;
  reject: (error: Error) => void;
  setTimeout(ms: number): void;
  _commandTimeoutTimer?: NodeJS.Timeout;
  [patched]?: true;
}

/**
 * Makes ioredis's `commandTimeout` time Redis rather than this process. Node runs expired timers before it reads
 * the sockets, so after any stall of the event loop longer than the timeout (a GC pause, a long synchronous task,
 * a starved CPU) ioredis rejected every command in flight with `Command timed out`, even those whose reply had
 * already arrived and was waiting to be read: short timeouts turned pauses into cache errors, bypassed reads
 * and an open read breaker. Here the expired timer lets one I/O poll run (`setImmediate`) before it rejects, so
 * a reply that is there wins; a Redis that really does not answer still fails within the timeout plus one loop
 * turn. Applied once per process; every client (single Redis or cluster node) builds its commands from the one
 * `Command` class.
 */
export function tolerateEventLoopStalls(): void {
  const prototype = Command.prototype as unknown as TimedCommand;
  if (prototype[patched]) return;
  prototype[patched] = true;
  prototype.setTimeout = function (this: TimedCommand, ms: number): void {
    if (this._commandTimeoutTimer !== undefined) return;
    this._commandTimeoutTimer = setTimeout(() => {
      setImmediate(() => {
        if (!this.isSettled) this.reject(new Error('Command timed out'));
      });
    }, ms);
  };
}
