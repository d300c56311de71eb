/** The 11-byte signature that opens a binary COPY stream. */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Signature, flags (int32) and the length of the header extension (int32). */
const HEADER_BYTES = SIGNATURE.length + 8;

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * Rows of a `COPY … TO STDOUT (FORMAT binary)` stream, cut from the chunks it arrives in: each row is a field count
 * (int16, -1 for the trailer), then per field a length (int32, -1 for NULL) and its bytes. A row is handed over as
 * the buffer that holds it and each field's bounds in it (no copy, no object per field: a cold blog list is a
 * million fields), valid until the callback returns; a row split across chunks is carried over. Every field of
 * the rows read here is NOT NULL text, whose binary form is its UTF-8 bytes.
 */
export class BinaryCopyRows {
  private carry: Buffer = EMPTY;
  private headerRead = false;
  private trailerRead = false;
  /** Field f of the current row is `data[bounds[2f], bounds[2f + 1])`. */
  private readonly bounds: Int32Array;

  constructor(private readonly fields: number) {
    this.bounds = new Int32Array(2 * fields);
  }

  /** True once the trailer was read: the stream ended as it should. */
  get ended(): boolean {
    return this.trailerRead;
  }

  /** Calls `row` for every complete row in what has arrived so far. */
  push(chunk: Buffer, row: (data: Buffer, bounds: Int32Array) => void): void {
    let at = 0;
    if (this.carry.length > 0) {
      // What the last chunk left (part of a row) is completed in a small buffer of its own, joined with as little
      // of this chunk as it needs; the rest is read in the chunk itself. Joining whole chunks would copy every
      // byte once more, and each copy is memory outside V8's heap whose growth makes it collect garbage.
      const carried = this.carry.length;
      for (let take = Math.min(chunk.length, 4096); ; take = Math.min(chunk.length, 4 * take)) {
        const joined = Buffer.concat([this.carry, chunk.subarray(0, take)]);
        const end = this.parse(joined, 0, row, 1);
        if (end > 0) {
          at = end - carried;
          break;
        }
        if (take === chunk.length) return void (this.carry = joined);
      }
    }
    at = this.parse(chunk, at, row, Number.POSITIVE_INFINITY);
    this.carry = at === chunk.length ? EMPTY : chunk.subarray(at);
  }

  /**
   * Reads up to `limit` complete units (the header, a row, the trailer) of `data` from `at`; returns where the
   * first unit it could not complete begins.
   */
  private parse(data: Buffer, at: number, row: (data: Buffer, bounds: Int32Array) => void, limit: number): number {
    let units = 0;
    if (!this.headerRead) {
      if (data.length - at < HEADER_BYTES) return at;
      if (!data.subarray(at, at + SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream');
      const extension = data.readUInt32BE(at + SIGNATURE.length + 4);
      if (data.length - at < HEADER_BYTES + extension) return at;
      at += HEADER_BYTES + extension;
      this.headerRead = true;
      units += 1;
    }
    const bounds = this.bounds;
    while (units < limit && !this.trailerRead && data.length - at >= 2) {
      const count = data.readInt16BE(at);
      if (count === -1) {
        this.trailerRead = true;
        return at + 2;
      }
      if (count !== this.fields) throw new Error(`a COPY row of ${count} fields, expected ${this.fields}`);
      let next = at + 2;
      for (let field = 0; field < count; field += 1) {
        if (data.length - next < 4) return at;
        const length = data.readInt32BE(next);
        if (length < 0) throw new Error('a NULL field in a COPY row of NOT NULL fields');
        if (data.length - next - 4 < length) return at;
        bounds[2 * field] = next + 4;
        bounds[2 * field + 1] = next + 4 + length;
        next += 4 + length;
      }
      row(data, bounds);
      at = next;
      units += 1;
    }
    return at;
  }

  /** Throws unless the stream ended with its trailer and nothing after it. */
  end(): void {
    if (!this.trailerRead || this.carry.length > 0) throw new Error('a binary COPY stream cut short');
  }
}

const COMMA = 0x2c;

/**
 * Byte strings joined by commas, copied into pieces of at least `pieceBytes` (an item is never split), each a
 * buffer of its own once handed on.
 */
export class JoinedBytes {
  private piece: Buffer;
  private bytes = 0;
  private first = true;

  constructor(private readonly pieceBytes: number) {
    this.piece = Buffer.allocUnsafe(pieceBytes);
  }

  /** Adds `data[start, end)`; returns a full piece, or null. */
  add(data: Buffer, start: number, end: number): Buffer | null {
    const needed = this.bytes + 1 + end - start;
    if (needed > this.piece.length) {
      const larger = Buffer.allocUnsafe(Math.max(needed, this.pieceBytes + (this.pieceBytes >> 2)));
      this.piece.copy(larger, 0, 0, this.bytes);
      this.piece = larger;
    }
    if (!this.first) this.piece[this.bytes++] = COMMA;
    this.first = false;
    this.bytes += data.copy(this.piece, this.bytes, start, end);
    return this.bytes >= this.pieceBytes ? this.take() : null;
  }

  /** What is left, or null when nothing is. */
  flush(): Buffer | null {
    return this.bytes === 0 ? null : this.take();
  }

  private take(): Buffer {
    const piece = this.piece.subarray(0, this.bytes);
    this.piece = Buffer.allocUnsafe(this.pieceBytes);
    this.bytes = 0;
    return piece;
  }
}
