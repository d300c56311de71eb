/**
 * A post as the cache stores it and the API returns it (less `version`): plain JSON with ISO 8601 UTC
 * timestamps formatted by Postgres, so a post read from Redis, from a list chunk or from Postgres is identical.
 */
export interface PostRecord {
  id: number;
  title: string;
  content: string;
  author: string;
  /** Incremented by every update. Never sent to clients. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface NewPost {
  title: string;
  content: string;
  author: string;
}

export type PostChanges = Partial<NewPost>;

/** The fields a client may set, in the order the API writes them. */
export const POST_FIELDS: (keyof NewPost)[] = ['title', 'content', 'author'];
