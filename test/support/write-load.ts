import { newUser, type TestApp } from './test-app';

export interface ExpectedUser {
  name: string;
  email: string;
  age: number;
}

/**
 * Per id, what the last acknowledged write left (the user, or null when deleted), and what later writes
 * whose answer was not a success (a 5xx, or no answer) may have left: their outcome is unknown, so Postgres
 * may hold any of them, or the acknowledged value, and never anything older.
 */
export class ExpectedWrites extends Map<number, ExpectedUser | null> {
  readonly unknown = new Map<number, (ExpectedUser | null)[]>();

  acknowledged(id: number, value: ExpectedUser | null): void {
    this.set(id, value);
    this.unknown.delete(id);
  }

  uncertain(id: number, value: ExpectedUser | null): void {
    this.unknown.set(id, [...(this.unknown.get(id) ?? []), value]);
  }

  /** The same expectations without `ids`. */
  without(ids: number[]): ExpectedWrites {
    const rest = new ExpectedWrites();
    for (const [id, value] of this) {
      if (ids.includes(id)) continue;
      rest.set(id, value);
      const unknown = this.unknown.get(id);
      if (unknown !== undefined) rest.unknown.set(id, unknown);
    }
    return rest;
  }

  /** Every value Postgres may hold for `id`. */
  acceptable(id: number): (ExpectedUser | null)[] {
    return [this.get(id) ?? null, ...(this.unknown.get(id) ?? [])];
  }
}

/** A definite refusal (4xx) changed nothing; anything else that is not a success may have. */
function outcomeUnknown(status: number): boolean {
  return status >= 500 || status === 0;
}

/**
 * Drives creates, updates and deletes through the API in `lanes` concurrent lanes, each lane owning its
 * users (so the last acknowledged write of a user is well defined), and remembers, per id, what the last
 * acknowledged write left and which later writes have an unknown outcome.
 */
export async function runWrites(
  t: TestApp,
  options: { lanes: number; opsPerLane: number; email?: (lane: number, op: number) => string | undefined },
): Promise<ExpectedWrites> {
  const expected = new ExpectedWrites();
  await Promise.all(
    Array.from({ length: options.lanes }, async (_, lane) => {
      const mine: number[] = [];
      for (let op = 0; op < options.opsPerLane; op += 1) {
        const name = `lane ${lane} op ${op}`;
        const roll = op % 10;
        if (mine.length === 0 || roll < 4) {
          const body = newUser({ name, age: op % 150 });
          const email = options.email?.(lane, op);
          if (email !== undefined) body.email = email;
          const response = await t.http().post('/users').send(body);
          // A create with an unknown outcome has no id to check: nothing is expected of it.
          if (response.status === 201) {
            mine.push(response.body.id as number);
            expected.acknowledged(response.body.id as number, body);
          }
        } else if (roll < 9) {
          const id = mine[op % mine.length]!;
          const age = (op * 7) % 150;
          const response = await t.http().patch(`/users/${id}`).send({ name, age });
          const value = { ...(expected.get(id) as ExpectedUser), name, age };
          if (response.status === 200) expected.acknowledged(id, value);
          else if (outcomeUnknown(response.status)) expected.uncertain(id, value);
        } else if (mine.length > 1) {
          // A lane's first user is never deleted, so a test can rely on it surviving.
          const id = mine.splice(1 + (op % (mine.length - 1)), 1)[0]!;
          const response = await t.http().delete(`/users/${id}`);
          if (response.status === 204) expected.acknowledged(id, null);
          else {
            if (outcomeUnknown(response.status)) expected.uncertain(id, null);
            mine.push(id);
          }
        }
      }
    }),
  );
  return expected;
}

/** Every acknowledged write is in Postgres with its last value (or a later unknown one); returns the ids that differ. */
export async function differencesFromPostgres(t: TestApp, expected: ExpectedWrites): Promise<string[]> {
  const ids = [...expected.keys()];
  const rows = await t.db.query<{ id: number; name: string; email: string; age: number }>(
    'SELECT id, name, email, age FROM users WHERE id = ANY($1::int[])',
    [ids],
  );
  const actual = new Map(rows.rows.map((row) => [row.id, { name: row.name, email: row.email, age: row.age }]));
  const differences: string[] = [];
  for (const id of ids) {
    const got = JSON.stringify(actual.get(id) ?? null);
    const acceptable = expected.acceptable(id).map((value) => JSON.stringify(value));
    if (!acceptable.includes(got)) differences.push(`${id}: want ${acceptable.join(' or ')}, got ${got}`);
  }
  return differences;
}
