/**
 * A user as the strategies cache it and the API returns it (less `version`): plain JSON, timestamps as
 * ISO 8601 UTC strings, so a record read from Redis and one read from Postgres are identical.
 */
export interface UserRecord {
  id: number;
  name: string;
  email: string;
  age: number;
  /** Incremented by every update; decides which of two cache writes is newer. Never sent to clients. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface NewUser {
  name: string;
  email: string;
  age: number;
}

export type UserChanges = Partial<NewUser>;

/** Shape of a `users` row as Postgres returns it from raw SQL. */
export interface UserRow {
  id: number;
  name: string;
  email: string;
  age: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export function toUserRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    age: row.age,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function userNotFoundMessage(id: number): string {
  return `User ${id} not found`;
}
