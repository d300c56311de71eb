import { once } from 'node:events';
import { promisify } from 'node:util';
import { constants, crc32, createDeflateRaw, inflateRaw as inflateRawCallback } from 'node:zlib';

const inflateRaw = promisify(inflateRawCallback);

/** Rows are fed to zlib in pieces of about this size: no large string or buffer is ever built. */
const FEED_BYTES = 64 * 1024;

/** Bytes before the deflate data in a stored segment: CRC-32 and length of the text it holds, big-endian. */
const SEGMENT_HEADER = 8;

/** gzip member header (RFC 1952): magic, deflate, no flags, no mtime, no extra flags, unknown OS. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]);

/** An empty final deflate block (fixed Huffman, BFINAL set): ends the deflate stream. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

/**
 * Why segments: the full list is sent as one gzip stream built from pieces compressed at different times.
 * Each piece is raw deflate ended with a sync flush (byte-aligned, not final), so pieces can be laid end to
 * end; the stream is closed with an empty final block and a trailer whose CRC-32 is combined from the pieces'
 * CRCs. The result is one ordinary gzip member that every client decodes (curl, for one, stops after the
 * first member of a multi-member stream), and the pieces in Redis are sent exactly as stored.
 * `parts` are joined with commas (a chunk's posts), fed to zlib in small pieces.
 */
export async function compressSegment(parts: string | Iterable<string> | AsyncIterable<string>): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: constants.Z_BEST_SPEED, finishFlush: constants.Z_SYNC_FLUSH });
  const output: Buffer[] = [];
  deflate.on('data', (data: Buffer) => output.push(data));
  let crc = 0;
  let length = 0;
  let pending: string[] = [];
  let pendingBytes = 0;
  const feed = async (): Promise<void> => {
    const piece = Buffer.from(pending.join(''));
    pending = [];
    pendingBytes = 0;
    crc = crc32(piece, crc);
    length += piece.length;
    if (!deflate.write(piece)) await once(deflate, 'drain');
  };
  let first = true;
  for await (const text of typeof parts === 'string' ? [parts] : parts) {
    const part = first ? text : `,${text}`;
    first = false;
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes >= FEED_BYTES) await feed();
  }
  if (pendingBytes > 0) await feed();
  deflate.end();
  await once(deflate, 'end');
  const header = Buffer.alloc(SEGMENT_HEADER);
  header.writeUInt32BE(crc, 0);
  header.writeUInt32BE(length, 4);
  return Buffer.concat([header, ...output]);
}

/** The text of a stored segment. */
export async function inflateSegment(segment: Buffer): Promise<Buffer> {
  return inflateRaw(segment.subarray(SEGMENT_HEADER), { finishFlush: constants.Z_SYNC_FLUSH });
}

/** True when the segment holds no text (a chunk whose posts were all deleted). */
export function isEmptySegment(segment: Buffer): boolean {
  return segment.length < SEGMENT_HEADER || segment.readUInt32BE(4) === 0;
}

/** Writes one gzip member from stored segments: `header()`, `segment()` for each, then `trailer()`. */
export class GzipAssembler {
  private crc = 0;
  private length = 0;

  header(): Buffer {
    return GZIP_HEADER;
  }

  /** The deflate bytes of a stored segment, as stored; its CRC and length join the trailer's. */
  segment(segment: Buffer): Buffer {
    const length = segment.readUInt32BE(4);
    this.crc = crc32Combine(this.crc, segment.readUInt32BE(0), length);
    this.length = (this.length + length) % 2 ** 32;
    return segment.subarray(SEGMENT_HEADER);
  }

  trailer(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc, 0);
    trailer.writeUInt32LE(this.length, 4);
    return Buffer.concat([FINAL_BLOCK, trailer]);
  }
}

function gf2MatrixTimes(matrix: number[], vector: number): number {
  let sum = 0;
  for (let row = 0; vector !== 0; row += 1, vector >>>= 1) if ((vector & 1) !== 0) sum ^= matrix[row]!;
  return sum >>> 0;
}

function gf2MatrixSquare(square: number[], matrix: number[]): void {
  for (let n = 0; n < 32; n += 1) square[n] = gf2MatrixTimes(matrix, matrix[n]!);
}

/**
 * CRC-32 of A followed by B, from CRC(A), CRC(B) and B's length (zlib's `crc32_combine`, which Node does not
 * expose): applies `length` zero bytes to CRC(A) by repeated squaring of the CRC's shift operator over GF(2).
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Array<number>(32);
  const odd = new Array<number>(32);
  odd[0] = 0xedb88320;
  for (let n = 1, row = 1; n < 32; n += 1, row <<= 1) odd[n] = row >>> 0;
  gf2MatrixSquare(even, odd);
  gf2MatrixSquare(odd, even);
  let crc = crcA >>> 0;
  let remaining = lengthB;
  do {
    gf2MatrixSquare(even, odd);
    if (remaining % 2 === 1) crc = gf2MatrixTimes(even, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    gf2MatrixSquare(odd, even);
    if (remaining % 2 === 1) crc = gf2MatrixTimes(odd, crc);
    remaining = Math.floor(remaining / 2);
  } while (remaining !== 0);
  return (crc ^ crcB) >>> 0;
}
