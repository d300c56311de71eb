import { Injectable } from '@nestjs/common';
import { compressSegment, GzipAssembler, inflateSegment, isEmptySegment } from './gzip-segments';
import { ListChunks } from './list-chunks';

/** Where a list read was answered from. `PARTIAL`: some chunks were in Redis, the rest were built from Postgres. */
export type ListOutcome = 'HIT' | 'MISS' | 'PARTIAL' | 'BYPASS';

/** The full list, ready to stream: `body` yields it gzip-compressed or as plain JSON, a chunk at a time. */
export interface FullList {
  outcome: ListOutcome;
  chunks: number;
  cachedChunks: number;
  body(gzipped: boolean): AsyncGenerator<Buffer>;
}

/** Cached chunks read ahead of the one being sent. */
const READ_AHEAD = 16;

/** The JSON around the chunks, compressed once (see `gzip-segments.ts` for how the pieces join). */
const PUNCTUATION = Promise.all(['[', ',', ']'].map((text) => compressSegment(text)));

/**
 * Every post as one JSON array, streamed chunk by chunk and never held whole: cached chunks straight from Redis
 * (gzip segments joined into one gzip stream, or inflated for clients that do not take gzip), missing ones
 * built from Postgres while the others stream.
 */
@Injectable()
export class FullListReader {
  private readonly counters = {
    fullLists: { HIT: 0, MISS: 0, PARTIAL: 0, BYPASS: 0 },
    activeStreams: 0,
    /** Body bytes handed to responses (compressed when the client took gzip). */
    bytesSent: 0,
  };

  constructor(private readonly chunks: ListChunks) {}

  /** What a full read would answer with (for `HEAD`), without building or reading any chunk. */
  async describe(): Promise<Omit<FullList, 'body'>> {
    const { outcome, chunks, missing } = await this.survey();
    return { outcome, chunks, cachedChunks: chunks - missing.length };
  }

  /** Opens the full list. Throws (before anything is sent) when Postgres is needed and away. */
  async open(): Promise<FullList> {
    const { useCache, outcome, chunks, missing } = await this.survey();
    this.counters.fullLists[outcome] += 1;
    // Start every missing chunk now (at most `concurrency` build at once): after a write, the one chunk it
    // touched is rebuilt while the cached ones stream, not after them. Built chunks are small (compressed).
    const early = new Map<number, Promise<Buffer>>();
    for (const chunk of missing) {
      const build = this.chunks.build(chunk, useCache);
      // A client that leaves early leaves builds behind; they still fill Redis, and must not fail unhandled.
      build.catch(() => undefined);
      early.set(chunk, build);
    }
    // Read the first chunk now, so a Postgres outage is a 503 rather than a response cut after its headers.
    if (chunks > 0) early.set(0, early.get(0) ?? this.chunks.chunk(0, useCache));
    await early.get(0);
    return {
      outcome,
      chunks,
      cachedChunks: chunks - missing.length,
      body: (gzipped) => this.stream(chunks, useCache, gzipped, early),
    };
  }

  snapshot(): { fullLists: Record<ListOutcome, number>; activeStreams: number; bytesSent: number } {
    return {
      fullLists: { ...this.counters.fullLists },
      activeStreams: this.counters.activeStreams,
      bytesSent: this.counters.bytesSent,
    };
  }

  private async survey(): Promise<{ useCache: boolean; outcome: ListOutcome; chunks: number; missing: number[] }> {
    const useCache = await this.chunks.usable();
    const chunks = this.chunks.chunksUpTo(await this.chunks.maxId(useCache));
    const missing = useCache ? await this.chunks.missing(chunks) : Array.from({ length: chunks }, (_, chunk) => chunk);
    const cachedChunks = chunks - missing.length;
    const outcome: ListOutcome = !useCache
      ? 'BYPASS'
      : cachedChunks === chunks
        ? 'HIT'
        : cachedChunks === 0
          ? 'MISS'
          : 'PARTIAL';
    return { useCache, outcome, chunks, missing };
  }

  private async *stream(
    chunks: number,
    useCache: boolean,
    gzipped: boolean,
    early: Map<number, Promise<Buffer>>,
  ): AsyncGenerator<Buffer> {
    this.counters.activeStreams += 1;
    try {
      const [open, comma, close] = (await PUNCTUATION) as [Buffer, Buffer, Buffer];
      const gzip = new GzipAssembler();
      const emit = (segment: Buffer): Promise<Buffer> | Buffer =>
        gzipped ? gzip.segment(segment) : inflateSegment(segment);
      const counted = (bytes: Buffer): Buffer => ((this.counters.bytesSent += bytes.length), bytes);
      if (gzipped) yield counted(gzip.header());
      yield counted(await emit(open));
      // Cached chunks are read a few ahead, so Redis round trips overlap with sending.
      const ahead: Promise<Buffer>[] = [];
      let requested = 0;
      let written = 0;
      for (let chunk = 0; chunk < chunks; chunk += 1) {
        while (requested < chunks && ahead.length < READ_AHEAD) {
          const read = early.get(requested) ?? this.chunks.chunk(requested, useCache);
          read.catch(() => undefined);
          ahead.push(read);
          requested += 1;
        }
        const segment = await ahead.shift()!;
        if (isEmptySegment(segment)) continue;
        if (written > 0) yield counted(await emit(comma));
        yield counted(await emit(segment));
        written += 1;
      }
      yield counted(await emit(close));
      if (gzipped) yield counted(gzip.trailer());
    } finally {
      this.counters.activeStreams -= 1;
    }
  }
}
