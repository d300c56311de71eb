import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { defineScripts } from './redis-scripts';

const DIR = join(process.cwd(), 'libs/cache-core/src/redis/commands');
const files = readdirSync(DIR).filter((file) => file.endsWith('.lua'));

describe('Redis scripts', () => {
  it.each(files)('%s documents every KEYS and ARGV entry it uses, and its key count matches its name', (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const header = /^(?:#!lua flags=[a-z-,]+\n)?--\[\[([\s\S]*?)\]\]/.exec(text)?.[1] ?? '';
    const body = text.slice(text.indexOf(']]') + 2);
    expect(header).toMatch(/Why/);
    for (const [, name, index] of body.matchAll(/(KEYS|ARGV)\[(\d+)\]/g)) {
      expect(header).toMatch(new RegExp(`${name}\\[${index}\\]`));
    }
    const declared = /-(\d+)\.lua$/.exec(file)?.[1];
    if (declared !== undefined) {
      const named = new Set([...header.matchAll(/KEYS\[(\d+)\]/g)].map(([, index]) => Number(index)));
      expect(Math.max(...named)).toBe(Number(declared));
    }
  });

  it('defines one command per script file, named after it', () => {
    const client = new Redis({ lazyConnect: true });
    defineScripts(client);
    const commands = files.map((file) =>
      file.replace(/(-\d+)?\.lua$/, '').replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase()),
    );
    for (const command of commands)
      expect(typeof (client as unknown as Record<string, unknown>)[command]).toBe('function');
    client.disconnect();
  });
});
