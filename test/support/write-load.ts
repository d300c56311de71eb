import { newUser, type TestApp } from './test-app';

export interface ExpectedUser {
  name: string;
  email: string;
  age: number;
}

/**
 * Drives creates, updates and deletes through the API in `lanes` concurrent lanes, each lane owning its
 * users (so the last acknowledged write of a user is well defined), and remembers, per id, what the last
 * acknowledged write left: the user, or null when deleted. Writes that were not acknowledged are not
 * remembered, since the API made no promise about them.
 */
export async function runWrites(
  t: TestApp,
  options: { lanes: number; opsPerLane: number; email?: (lane: number, op: number) => string | undefined },
): Promise<Map<number, ExpectedUser | null>> {
  const expected = new Map<number, ExpectedUser | null>();
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
          if (response.status === 201) {
            mine.push(response.body.id as number);
            expected.set(response.body.id as number, body);
          }
        } else if (roll < 9) {
          const id = mine[op % mine.length]!;
          const response = await t
            .http()
            .patch(`/users/${id}`)
            .send({ name, age: (op * 7) % 150 });
          if (response.status === 200)
            expected.set(id, { ...(expected.get(id) as ExpectedUser), name, age: (op * 7) % 150 });
        } else if (mine.length > 1) {
          // A lane's first user is never deleted, so a test can rely on it surviving.
          const id = mine.splice(1 + (op % (mine.length - 1)), 1)[0]!;
          const response = await t.http().delete(`/users/${id}`);
          if (response.status === 204) expected.set(id, null);
          else mine.push(id);
        }
      }
    }),
  );
  return expected;
}

/** Every acknowledged write is in Postgres with its last value; returns the ids that differ. */
export async function differencesFromPostgres(
  t: TestApp,
  expected: Map<number, ExpectedUser | null>,
): Promise<string[]> {
  const ids = [...expected.keys()];
  const rows = await t.db.query<{ id: number; name: string; email: string; age: number }>(
    'SELECT id, name, email, age FROM users WHERE id = ANY($1::int[])',
    [ids],
  );
  const actual = new Map(rows.rows.map((row) => [row.id, { name: row.name, email: row.email, age: row.age }]));
  const differences: string[] = [];
  for (const [id, want] of expected) {
    const got = actual.get(id) ?? null;
    if (JSON.stringify(got) !== JSON.stringify(want))
      differences.push(`${id}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return differences;
}
