import { createHash } from 'node:crypto';
import { IdempotencyKeyReusedError } from '../errors/domain.errors';

/** One use of an `Idempotency-Key`: which route it was sent to, and what exactly was asked. */
export interface IdempotencyClaim {
  /** Method and route template, e.g. `PATCH /users/:id`: a key means nothing outside its route. */
  scope: string;
  key: string;
  /** Hash of the method, path and body: the same key with another request is a 422. */
  fingerprint: string;
  /** How long the first outcome is kept and replayed. */
  ttlSeconds: number;
}

/** The response a write gave, as it is replayed to a retry. */
export interface StoredResponse {
  status: number;
  body: unknown;
  etag?: string;
}

/** A stored response and the fingerprint of the request that produced it. */
export interface StoredOutcome extends StoredResponse {
  fingerprint: string;
}

/** An idempotent write: the claim, and how to turn the written record into the response to store with it. */
export interface IdempotentWrite<T> extends IdempotencyClaim {
  response(record: T | undefined): StoredResponse;
}

/**
 * What a write may be conditioned on. `ifMatch`: the versions the client based its change on (from
 * `If-Match`); the write happens only if the record still has one of them, checked atomically with the
 * write. `idempotency`: the outcome is recorded atomically with the write, and a repeat replays it.
 */
export interface WriteOptions<T> {
  ifMatch?: number[];
  idempotency?: IdempotentWrite<T>;
}

/**
 * Where an app's idempotency records live: in Postgres, written in the same transaction as the row, for the
 * patterns that write Postgres; in Redis, written by the same script as the change, for write-behind.
 */
export abstract class IdempotencyLedger {
  /** The outcome stored for this scope and key, if any (expired ones are gone). */
  abstract storedOutcome(claim: IdempotencyClaim): Promise<StoredOutcome | null>;
}

/**
 * Thrown from inside a write that found, under its lock, that a concurrent request with the same key has
 * meanwhile finished: the caller replays `stored` instead of answering an error.
 */
export class IdempotentReplay extends Error {
  constructor(readonly stored: StoredResponse) {
    super('Replayed');
  }
}

/** The stored response for a retry of the same request; a 422 when the key was used for another request. */
export function replayFor(stored: StoredOutcome, claim: IdempotencyClaim): IdempotentReplay {
  if (stored.fingerprint !== claim.fingerprint) throw new IdempotencyKeyReusedError();
  return new IdempotentReplay({ status: stored.status, body: stored.body, etag: stored.etag });
}

/** A stable digest of a claim's scope and key, for lock names and Redis keys (keys may hold any character). */
export function claimDigest(claim: Pick<IdempotencyClaim, 'scope' | 'key'>): Buffer {
  return createHash('sha256').update(claim.scope).update('\n').update(claim.key).digest();
}
