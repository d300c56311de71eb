import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';

type Arg = string | number | Buffer;

/**
 * Every Lua script of the project, as a command on a client. Each script lives in `commands/<name>-<keys>.lua`
 * (`<name>.lua` when it takes a variable number of keys, passed first), with a header naming each KEYS and
 * ARGV entry and why it must be atomic; this is the only place that loads them. A script that must run in a
 * Redis at its memory limit says so on its first line (`#!lua flags=allow-oom`, Redis 7).
 */
export interface ScriptCommands {
  fillIfLeased(entry: string, lease: string, token: string, payload: string, ttlMs: number): Promise<number>;
  setIfNewer(
    entry: string,
    lease: string,
    tombstone: string,
    marker: string,
    payload: string,
    ttlMs: number,
    version: number,
    markerTtlMs: number,
  ): Promise<number>;
  invalidate(entry: string, lease: string, marker: string, version: number, markerTtlMs: number): Promise<number>;
  invalidateOlder(
    entry: string,
    lease: string,
    tombstone: string,
    marker: string,
    version: number,
    operation: string,
    tombstoneTtlMs: number,
    markerTtlMs: number,
  ): Promise<number>;
  releaseLock(lock: string, token: string): Promise<number>;
  leaseOrEntry(
    entry: string,
    lease: string,
    marker: string,
    tombstone: string,
    token: string,
    ttlMs: number,
  ): Promise<[found: 'hit' | 'lease' | 'held', entry: string | null, floor?: string | null, deleted?: number]>;
  entryWithTtl(entry: string): Promise<[number, string | null]>;
  refreshLease(
    lease: string,
    marker: string,
    tombstone: string,
    token: string,
    ttlMs: number,
  ): Promise<[floor: string | null, deleted: number]>;
  entryWithTtlBuffer(entry: string): Promise<[number, Buffer | null]>;
  lookupWithGrace(
    entry: string,
    lease: string,
    marker: string,
    tombstone: string,
    token: string,
    leaseTtlMs: number,
    graceMs: number,
  ): Promise<
    [found: 'hit' | 'lease' | 'held', entry: string | null, ttlMs: number, floor?: string | null, deleted?: number]
  >;
  recordAccesses(hot: string, meta: string, ...args: number[]): Promise<number>;
  wbAccept(...keysThenArgs: Arg[]): Promise<string>;
  wbPatch(...keysThenArgs: Arg[]): Promise<string>;
  wbClaim(pending: string, claimed: string, now: number, limit: number, claimTimeoutMs: number): Promise<string[]>;
  wbAck(numberOfKeys: number, ...keysThenArgs: Arg[]): Promise<[settled: number, missing: number]>;
  wbFail(...keysThenArgs: Arg[]): Promise<string>;
  wbRelease(pending: string, claimed: string, eligibleAt: number, ...ids: number[]): Promise<number>;
  wbReconcile(numberOfKeys: number, ...keysThenArgs: Arg[]): Promise<[recovered: number, missing: number]>;
  wbReplay(
    pending: string,
    accepted: string,
    dead: string,
    counters: string,
    now: number,
    ...ids: number[]
  ): Promise<number>;
  readGenerations(numberOfKeys: number, ...keysThenToken: Arg[]): Promise<string[]>;
  fillIfCurrent(numberOfKeys: number, ...keysThenArgs: Arg[]): Promise<number>;
  invalidateGenerations(numberOfKeys: number, ...keysThenToken: Arg[]): Promise<number>;
}

/** A single Redis or a Redis Cluster client. */
export type RedisClient = Redis | Cluster;

/** A client with every script defined on it. */
export type ScriptedRedis = RedisClient & ScriptCommands;

interface Script {
  command: string;
  numberOfKeys?: number;
  lua: string;
}

/**
 * Next to this file, in the source tree and (copied by `nest build`, see `nest-cli.json` assets) in `dist`. Jest
 * runs the sources as ES modules, which have no `__dirname`; it runs from the repository root.
 */
const COMMANDS_DIR =
  typeof __dirname === 'string'
    ? join(__dirname, 'commands')
    : join(process.cwd(), 'libs/cache-core/src/redis/commands');
const INCLUDE = /^--- @include "([a-z-]+)"$/gm;

/** `wb-accept-13.lua` -> `wbAccept` with 13 keys; `wb-ack.lua` -> `wbAck` with a variable number. */
function parse(file: string): Script {
  const match = /^([a-z-]+?)(?:-(\d+))?\.lua$/.exec(file);
  if (match === null) throw new Error(`Unexpected script file name: ${file}`);
  const lua = readFileSync(join(COMMANDS_DIR, file), 'utf8').replace(INCLUDE, (_, name: string) =>
    readFileSync(join(COMMANDS_DIR, 'includes', `${name}.lua`), 'utf8'),
  );
  const command = match[1]!.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return { command, numberOfKeys: match[2] === undefined ? undefined : Number(match[2]), lua };
}

let loaded: Script[] | undefined;

/** Read once per process, on first use. */
function scripts(): Script[] {
  loaded ??= readdirSync(COMMANDS_DIR)
    .filter((file) => file.endsWith('.lua'))
    .map(parse);
  return loaded;
}

/** Defines every script on `client` (ioredis sends EVALSHA, and the script itself once per connection). */
export function defineScripts(client: RedisClient): ScriptedRedis {
  for (const { command, numberOfKeys, lua } of scripts()) client.defineCommand(command, { numberOfKeys, lua });
  return client as ScriptedRedis;
}
