import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACCEPT_ARGV, ACCEPT_KEYS, FAIL_ARGV, FAIL_KEYS, PATCH_ARGV, PATCH_KEYS } from './change-log-scripts';

// Jest runs from the repository root, as ES modules (no `__dirname`).
const COMMANDS = join(process.cwd(), 'libs/cache-core/src/redis/commands');

/** The numbers of the `KEYS[n]` and `ARGV[n]` lines of a script's header. */
function declaredSlots(file: string): { keys: number; argv: number } {
  const header = readFileSync(join(COMMANDS, file), 'utf8').split(']]')[0]!;
  const count = (name: string): number => new Set(header.match(new RegExp(`^\\s*${name}\\[(\\d+)\\]`, 'gm'))).size;
  return { keys: count('KEYS'), argv: count('ARGV') };
}

describe('the change log scripts’ argument builders', () => {
  it.each([
    ['wb-accept-13.lua', ACCEPT_KEYS, ACCEPT_ARGV],
    ['wb-patch-8.lua', PATCH_KEYS, PATCH_ARGV],
    ['wb-fail-6.lua', FAIL_KEYS, FAIL_ARGV],
  ])('name every slot %s declares, and as many KEYS as its file name says', (file, keys, argv) => {
    expect(declaredSlots(file)).toEqual({ keys: keys.length, argv: argv.length });
    expect(Number(/-(\d+)\.lua$/.exec(file)![1])).toBe(keys.length);
  });
});
