import { Injectable } from '@nestjs/common';
import { compressSegment, GzipAssembler, inflateSegment, isEmptySegment } from './gzip-segments';
import { type ChunkSegment, ListChunks } from './list-chunks';

/**
 * Where a list read was answered from. `PARTIAL`: some chunks were in Redis, the rest were built from Postgres.
 * `STALE`: Postgres failed and grace copies (chunks past their TTL, that no write replaced) stood in.
 */
export type ListOutcome = 'HIT' | 'MISS' | 'PARTIAL' | 'BYPASS' | 'STALE';

/** The full list, ready to stream: `body` yields it gzip-compressed or as plain JSON, a chunk at a time. */
export interface FullList {
  outcome: ListOutcome;
  /** A stale list's age in seconds: that of the first grace copy answered (0 when only the list's end was). */
  ageSeconds?: number;
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
    fullLists: { HIT: 0, MISS: 0, PARTIAL: 0, BYPASS: 0, STALE: 0 },
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

  /**
   * Opens the full list. Throws (before anything is sent) when Postgres is needed and away and no grace copy can
   * stand in. The outcome is `STALE` when the list's end or the first chunk built was a grace copy (then every
   * missing chunk is awaited before the headers); a chunk that falls back to its copy later, once the headers are
   * out, is counted in `chunksStale`.
   */
  async open(): Promise<FullList> {
    const { useCache, outcome, chunks, missing, stale } = await this.survey();
    // Start every missing chunk now (at most `concurrency` build at once): after a write, the one chunk it
    // touched is rebuilt while the cached ones stream, not after them. Built chunks are small (compressed).
    const early = new Map<number, Promise<ChunkSegment>>();
    for (const chunk of missing) {
      const build = this.chunks.build(chunk, useCache);
      // A client that leaves early leaves builds behind; they still fill Redis, and must not fail unhandled.
      build.catch(() => undefined);
      early.set(chunk, build);
    }
    // Wait for the first chunk built (or the first chunk), so a Postgres outage is a 503 or a stale answer rather
    // than a response cut after its headers.
    const first = missing[0] ?? 0;
    if (chunks > 0) early.set(first, early.get(first) ?? this.chunks.chunk(first, useCache));
    const answered = await early.get(first);
    const final: ListOutcome = stale || answered?.stale === true ? 'STALE' : outcome;
    // Postgres is failing: the other missing chunks answer their copies at once, or fail (no copy: a write
    // replaced it) before anything is sent.
    if (final === 'STALE') await Promise.all(early.values());
    this.counters.fullLists[final] += 1;
    return {
      outcome: final,
      ...(final === 'STALE' ? { ageSeconds: answered?.ageSeconds ?? 0 } : {}),
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

  private async survey(): Promise<{
    useCache: boolean;
    outcome: ListOutcome;
    chunks: number;
    missing: number[];
    stale: boolean;
  }> {
    const useCache = await this.chunks.usable();
    const { maxId, stale } = await this.chunks.maxId(useCache);
    const chunks = this.chunks.chunksUpTo(maxId);
    const missing = useCache ? await this.chunks.missing(chunks) : Array.from({ length: chunks }, (_, chunk) => chunk);
    const cachedChunks = chunks - missing.length;
    const outcome: ListOutcome = !useCache
      ? 'BYPASS'
      : cachedChunks === chunks
        ? 'HIT'
        : cachedChunks === 0
          ? 'MISS'
          : 'PARTIAL';
    return { useCache, outcome, chunks, missing, stale };
  }

  private async *stream(
    chunks: number,
    useCache: boolean,
    gzipped: boolean,
    early: Map<number, Promise<ChunkSegment>>,
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
      const ahead: Promise<ChunkSegment>[] = [];
      let requested = 0;
      let written = 0;
      for (let chunk = 0; chunk < chunks; chunk += 1) {
        while (requested < chunks && ahead.length < READ_AHEAD) {
          const read = early.get(requested) ?? this.chunks.chunk(requested, useCache);
          read.catch(() => undefined);
          ahead.push(read);
          requested += 1;
        }
        const { segment } = await ahead.shift()!;
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
