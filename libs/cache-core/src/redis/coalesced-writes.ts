import type { Redis } from 'ioredis';

/** What of ioredis's `Command` this touches (its timer field is private in the typings). */
interface TimedCommand {
  name: string;
  isSettled: boolean;
  setTimeout(ms: number): void;
  _commandTimeoutTimer?: NodeJS.Timeout;
}

/** What of ioredis's `Redis` this touches (`sendCommand`'s second parameter is a pipeline's own stream). */
interface CommandSender {
  status: string;
  options: { commandTimeout?: number };
  stream?: { cork(): void; uncork(): void; writable: boolean };
  sendCommand(command: TimedCommand, stream?: unknown): unknown;
}

/**
 * One socket write per event-loop turn on a single-Redis client, without waiting for replies: the first command
 * of a turn corks the socket and `setImmediate` uncorks it, so every command sent by the requests of that turn
 * leaves in one `writev`. The methods named in `immediate` (write-behind's read and compare-and-set, defined after
 * its scripts) uncork at once, with whatever was corked before them: a held command would widen their race window.
 *
 * This replaces ioredis's `enableAutoPipelining`, which saves the same socket writes but lets only one pipeline be
 * in flight per connection: a command sent while the previous pipeline waits for its replies is held until they
 * come. On loopback that wait is microseconds; with Redis a network away it is a round trip, so a hit paid up to
 * two (`npm run bench` network rows, open loop at 1,000/s and 1 ms of round trip: a cache-aside Redis hit's p50
 * was 2.4 ms, and 1.2 ms for a lone request). Here no command waits for another's reply.
 */
export function coalesceWrites<T extends Redis>(client: T, immediate: readonly string[] = []): T {
  const sender = client as unknown as CommandSender;
  const send: CommandSender['sendCommand'] = sender.sendCommand.bind(client);
  let corked: CommandSender['stream'] | undefined;
  /** The commands sent while corked: their timeouts start again when they are written. */
  const held: TimedCommand[] = [];
  const uncork = (): void => {
    const socket = corked;
    if (socket === undefined) return;
    corked = undefined;
    socket.uncork();
    // A command's timeout times Redis, not this process (as in stall-tolerant-timeout.ts): one held across a
    // stall of the event loop would otherwise time out before its bytes had even left.
    const timeoutMs = sender.options.commandTimeout;
    for (const command of held.splice(0)) {
      if (timeoutMs === undefined || command.isSettled || command._commandTimeoutTimer === undefined) continue;
      clearTimeout(command._commandTimeoutTimer);
      command._commandTimeoutTimer = undefined;
      command.setTimeout(timeoutMs);
    }
  };
  sender.sendCommand = (command, stream) => {
    const socket = sender.stream;
    // Corked only once connected: a command refused while disconnected is refused at once, as before.
    if (corked === undefined && sender.status === 'ready' && socket?.writable) {
      socket.cork();
      corked = socket;
      setImmediate(uncork);
    }
    const result = send(command, stream);
    if (corked !== undefined) held.push(command);
    return result;
  };
  // A method (a command, or a script defined on the client) writes its command before it returns.
  const methods = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of immediate) {
    const method = methods[name]!.bind(client);
    methods[name] = (...args: unknown[]) => {
      const result = method(...args);
      uncork();
      return result;
    };
  }
  return client;
}
