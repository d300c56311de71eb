import fc from 'fast-check';
import { BinaryCopyRows, JoinedBytes } from './binary-copy';

/** A binary COPY stream of rows of text fields, as Postgres writes it (header, rows, trailer). */
function copyStream(rows: string[][], extension = 0): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')];
  const header = Buffer.alloc(8 + extension);
  header.writeUInt32BE(extension, 4);
  parts.push(header);
  for (const row of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(row.length);
    parts.push(count);
    for (const field of row) {
      const bytes = Buffer.from(field);
      const length = Buffer.alloc(4);
      length.writeInt32BE(bytes.length);
      parts.push(length, bytes);
    }
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

/** Feeds `stream` in pieces cut at `cuts` and returns the rows read. */
function read(stream: Buffer, cuts: number[]): { rows: string[][]; parser: BinaryCopyRows } {
  const parser = new BinaryCopyRows(2);
  const rows: string[][] = [];
  const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const point of [...points, stream.length]) {
    parser.push(stream.subarray(from, point), (data, bounds) =>
      rows.push([data.toString('utf8', bounds[0], bounds[1]), data.toString('utf8', bounds[2], bounds[3])]),
    );
    from = point;
  }
  return { rows, parser };
}

describe('BinaryCopyRows', () => {
  it('reads every row whatever chunks the stream arrives in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string(), fc.string({ unit: 'grapheme', maxLength: 3000 })), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.nat({ max: 20 }),
        (rows, cuts, extension) => {
          const expected = rows.map(([a, b]) => [a, b]);
          const { rows: got, parser } = read(copyStream(expected, extension), cuts);
          expect(got).toEqual(expected);
          expect(parser.ended).toBe(true);
          parser.end();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('throws on a stream cut short, a NULL field or another number of fields', () => {
    const stream = copyStream([['1:2', '{"id":1}']]);
    const { parser } = read(stream.subarray(0, stream.length - 3), []);
    expect(() => parser.end()).toThrow('cut short');
    const withNull = Buffer.from(stream);
    withNull.writeInt32BE(-1, 19 + 2);
    expect(() => read(withNull, [])).toThrow('NULL');
    expect(() => read(copyStream([['a', 'b', 'c']]), [])).toThrow('3 fields');
    expect(() => read(Buffer.from('not a copy stream at all'), [])).toThrow('not a binary COPY');
  });
});

describe('JoinedBytes', () => {
  it('joins items with commas into pieces of at least the given size, never splitting one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 50 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 64 }),
        (items, size) => {
          const joined = new JoinedBytes(size);
          const pieces: Buffer[] = [];
          for (const item of items) {
            const bytes = Buffer.from(`[${item}]`);
            const piece = joined.add(bytes, 0, bytes.length);
            if (piece !== null) pieces.push(Buffer.from(piece));
          }
          const rest = joined.flush();
          if (rest !== null) pieces.push(rest);
          expect(Buffer.concat(pieces).toString()).toBe(items.map((item) => `[${item}]`).join(','));
          for (const piece of pieces.slice(0, -1)) expect(piece.length).toBeGreaterThanOrEqual(size);
        },
      ),
    );
  });
});
