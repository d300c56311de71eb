import { randomBytes } from 'node:crypto';
import { crc32, gunzipSync } from 'node:zlib';
import { compressSegment, crc32Combine, GzipAssembler, inflateSegment, isEmptySegment } from './gzip-segments';

describe('gzip segments', () => {
  it('combines CRC-32s as if computed over the joined bytes', () => {
    for (const [a, b] of [
      [randomBytes(1), randomBytes(1)],
      [randomBytes(1000), randomBytes(77_777)],
      [Buffer.from('hello '), Buffer.from('world')],
    ] as const) {
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
    }
    expect(crc32Combine(crc32('abc'), 0, 0)).toBe(crc32('abc'));
    expect(crc32Combine(0, crc32('abc'), 3)).toBe(crc32('abc'));
  });

  it('chains combines over many pieces of every length bit pattern to the CRC-32 of the whole', () => {
    const pieces = Array.from({ length: 200 }, (_, i) =>
      randomBytes(i % 7 === 0 ? 65_536 + i * 997 : (i * 131) % 4099),
    );
    let crc = 0;
    for (const piece of pieces) crc = crc32Combine(crc, crc32(piece), piece.length);
    expect(crc).toBe(crc32(Buffer.concat(pieces)));
  });

  it('lays independently compressed segments end to end as one gzip member any decoder reads', async () => {
    const texts = ['[', '{"id":1,"title":"é ✓"}', ',', 'x'.repeat(100_000), ']'];
    const segments = await Promise.all(texts.map((text) => compressSegment(text)));
    const gzip = new GzipAssembler();
    const member = Buffer.concat([gzip.header(), ...segments.map((segment) => gzip.segment(segment)), gzip.trailer()]);
    expect(gunzipSync(member).toString()).toBe(texts.join(''));
    // One member: nothing follows the trailer, so decoders that stop after the first member lose nothing.
    expect(member.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(member.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), 1)).toBe(-1);
  });

  it('joins parts with commas, in pieces, whatever their number', async () => {
    const parts = Array.from({ length: 5000 }, (_, i) => `{"id":${i},"pad":"${'p'.repeat(i % 300)}"}`);
    const segment = await compressSegment(parts);
    expect((await inflateSegment(segment)).toString()).toBe(parts.join(','));
    expect(segment.readUInt32BE(4)).toBe(Buffer.byteLength(parts.join(',')));
  });

  it('takes byte strings as they are, with no comma added, each piece compressed on its own', async () => {
    const pieces = [Buffer.from('{"id":1},{"id":2}'), Buffer.from(',{"id":3}'), Buffer.from('x'.repeat(300_000))];
    const segment = await compressSegment(pieces);
    expect((await inflateSegment(segment)).toString()).toBe(Buffer.concat(pieces).toString());
    expect(segment.readUInt32BE(4)).toBe(Buffer.concat(pieces).length);
    expect(segment.readUInt32BE(0)).toBe(crc32(Buffer.concat(pieces)));
  });

  it('inflates a stored segment back to its text and knows an empty one', async () => {
    const segment = await compressSegment('{"a":1},{"b":2}');
    expect((await inflateSegment(segment)).toString()).toBe('{"a":1},{"b":2}');
    expect(isEmptySegment(await compressSegment(''))).toBe(true);
    expect(isEmptySegment(segment)).toBe(false);
  });
});
