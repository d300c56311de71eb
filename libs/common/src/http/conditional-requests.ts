import { BadRequestException } from '@nestjs/common';

/** The strong validator of a record's representation: its version, which every change increments. */
export function etagFor(version: number): string {
  return `"${version}"`;
}

const ENTITY_TAG = /\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/y;

interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** Parses `*` or a comma-separated list of entity tags (RFC 9110 §8.8.3); anything else is a 400. */
function parseTags(header: string, name: string): '*' | EntityTag[] {
  const value = header.trim();
  if (value === '*') return '*';
  const tags: EntityTag[] = [];
  ENTITY_TAG.lastIndex = 0;
  while (ENTITY_TAG.lastIndex < value.length) {
    const match = ENTITY_TAG.exec(value);
    if (match === null) throw new BadRequestException(`${name} must be * or a list of quoted entity tags`);
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! });
  }
  if (tags.length === 0) throw new BadRequestException(`${name} must be * or a list of quoted entity tags`);
  return tags;
}

/**
 * `If-Match` as the versions a write may apply to: undefined when absent or `*` (the record must merely
 * exist, which every update and delete requires anyway), else the versions its strong tags name (weak tags
 * never match, RFC 9110 §13.1.1), possibly none, in which case the write is a 412 whenever the record exists.
 */
export function parseIfMatch(header: string | string[] | undefined): number[] | undefined {
  if (header === undefined) return undefined;
  const tags = parseTags(Array.isArray(header) ? header.join(',') : header, 'If-Match');
  if (tags === '*') return undefined;
  return tags.filter((tag) => !tag.weak && /^[1-9]\d{0,9}$/.test(tag.opaque)).map((tag) => Number(tag.opaque));
}

/** True when `If-None-Match` matches the current version (weak comparison): the answer is a 304. */
export function ifNoneMatchHits(header: string | string[] | undefined, version: number): boolean {
  if (header === undefined) return false;
  const tags = parseTags(Array.isArray(header) ? header.join(',') : header, 'If-None-Match');
  return tags === '*' || tags.some((tag) => tag.opaque === String(version));
}
