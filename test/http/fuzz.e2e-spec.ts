import type { PatternAppDefinition } from '@app/shell';
import fc from 'fast-check';
import type { Client } from 'pg';
import type request from 'supertest';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { READ_THROUGH } from '../../apps/read-through/src/app.module';
import { REFRESH_AHEAD } from '../../apps/refresh-ahead/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { WRITE_THROUGH } from '../../apps/write-through/src/app.module';
import { startBlogTestApp } from '../support/blog-app';
import { type AdapterName, startTestApp } from '../support/test-app';

/** Requests per app; `FUZZ_RUNS` raises it locally, `FUZZ_SEED` replays a failure (both printed when one fails). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const INTERNALS = /\bat .*\.(js|ts):\d+|QueryFailedError|SELECT |INSERT |UPDATE .* SET|ECONN|stack|node_modules/i;

interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head';
  path: string;
  fields: Record<string, { type?: string }>;
}

interface Target {
  http(): ReturnType<typeof request>;
  db: Client;
  collection: 'users' | 'posts';
  flush?: () => Promise<void>;
  close(): Promise<void>;
}

/** The operations of an app's OpenAPI document, with the fields of each JSON body. */
async function operations(target: Target): Promise<Operation[]> {
  const document = (await target.http().get('/docs-json').expect(200)).body as {
    paths: Record<
      string,
      Record<string, { requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } }>
    >;
    components: { schemas: Record<string, { properties?: Record<string, { type?: string }> }> };
  };
  const found: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, spec] of Object.entries(methods)) {
      const ref = spec.requestBody?.content?.['application/json']?.schema?.$ref;
      const schema = ref === undefined ? undefined : document.components.schemas[ref.split('/').pop()!];
      found.push({ method: method as Operation['method'], path, fields: schema?.properties ?? {} });
    }
  }
  return found;
}

const nasty = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '', ' ', '💥'.repeat(200), "'; DROP TABLE users; --"),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ minLength: 250, maxLength: 300 }),
  fc.constantFrom(0, -1, 1.5, 1e308, -2147483649, Number.MAX_SAFE_INTEGER),
  fc.constantFrom(null, true, false),
  fc.constant([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A field's value: usually plausible (so some requests pass validation and reach the stores), often not. */
function value(name: string, type: string | undefined): fc.Arbitrary<unknown> {
  const plausible =
    type === 'number' || type === 'integer'
      ? fc.integer({ min: -2, max: 152 })
      : name === 'email'
        ? fc.emailAddress()
        : fc.string({ minLength: 1, maxLength: 30 });
  return fc.oneof({ weight: 6, arbitrary: plausible }, { weight: 1, arbitrary: nasty });
}

/** Present with probability 1 / (1 + weight). */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, weight: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

function body(fields: Operation['fields']): fc.Arbitrary<unknown> {
  const names = Object.keys(fields);
  const record = fc.record(Object.fromEntries(names.map((name) => [name, value(name, fields[name]!.type)])), {
    requiredKeys: names,
  });
  const extra = fc.dictionary(fc.constantFrom('admin', 'id', 'version', '__proto__', 'constructor', 'x'), nasty, {
    maxKeys: 2,
  });
  return fc.oneof(
    { weight: 4, arbitrary: record },
    {
      weight: 2,
      arbitrary: fc.tuple(record, fc.subarray(names), extra).map(([a, drop, b]) => {
        const kept = Object.fromEntries(Object.entries(a as object).filter(([key]) => !drop.includes(key)));
        return { ...b, ...kept };
      }),
    },
    { weight: 1, arbitrary: nasty },
  );
}

/** Ids in paths: seed records (only ever read), records the fuzz created (`@n`), and garbage. */
function id(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('1', '2', '3', '4', '5'),
    fc.nat(1000).map((n) => `@${n}`),
    fc.constantFrom('0', '-1', '1.5', '1e3', '2147483648', 'abc', '%00', '%F0%9F%92%A5', 'null', '9'.repeat(30)),
    fc.integer({ min: 1, max: 2_000_000 }).map(String),
  );
}

const rawBodies = fc.constantFrom('{"name": "x",', '[]', '"text"', 'null', '{"a":1}{"b":2}', '\u0000', '');
const contentTypes = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
);

async function fuzz(target: Target): Promise<void> {
  const ops = (await operations(target)).filter((op) => !op.path.startsWith('/docs'));
  const seed = await target.db.query(`SELECT * FROM ${target.collection} WHERE id <= 5 ORDER BY id`);
  const created: number[] = [];
  /** The last state each touched record was acknowledged in (null: deleted). */
  const state = new Map<number, Record<string, unknown> | null>();
  const collection = `/${target.collection}`;
  const statuses = new Map<number, number>();

  const requests = fc.constantFrom(...ops).chain((op) =>
    fc.record({
      op: fc.constant(op),
      id: id(),
      fields: body(op.fields),
      raw: sometimes(rawBodies, 6),
      contentType: contentTypes,
      ifMatch: sometimes(fc.constantFrom('"1"', '*', 'W/"2"', 'nonsense', '"', '""'), 3),
      key: sometimes(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('k1', 'k2', 'clé', '', ' ')), 3),
    }),
  );

  await fc.assert(
    fc.asyncProperty(requests, fc.context(), async (input, context) => {
      const targetId = input.id.startsWith('@')
        ? String(created[Number(input.id.slice(1)) % Math.max(1, created.length)] ?? 6)
        : input.id;
      const path = input.op.path.replace('{id}', targetId);
      const writes = !['get', 'head'].includes(input.op.method);
      // Seed records are only read, so that "afterwards the seed is intact" means something.
      if (writes && /^\/(users|posts)\/[1-5]$/.test(path)) return;
      let call = target.http()[input.op.method](path).timeout(2000);
      if (input.ifMatch !== undefined) call = call.set('If-Match', input.ifMatch);
      if (input.key !== undefined) call = call.set('Idempotency-Key', input.key);
      if (writes && input.op.method !== 'delete') {
        const payload = input.raw ?? input.fields;
        call = call
          .set('Content-Type', input.contentType)
          .send(typeof payload === 'string' ? payload : JSON.stringify(payload));
      }
      let response: request.Response;
      try {
        response = await call;
      } catch (error) {
        throw new Error(`${input.op.method.toUpperCase()} ${path} did not answer in 2 s: ${String(error)}`, {
          cause: error,
        });
      }
      context.log(`${input.op.method.toUpperCase()} ${path} -> ${response.status}`);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status).toBeLessThan(500);
      expect(response.text ?? '').not.toMatch(INTERNALS);
      if (response.status >= 300 || !writes || !path.startsWith(collection)) return;
      if (response.status === 204) {
        const gone = Number(path.split('/')[2]);
        state.set(gone, null);
        await target.http().get(path).expect(404);
        return;
      }
      const record = response.body as Record<string, unknown> & { id: number };
      if (!created.includes(record.id)) created.push(record.id);
      state.set(record.id, record);
      const read = await target.http().get(`${collection}/${record.id}`).expect(200);
      expect(read.body).toEqual(record);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );

  // What the requests got, so a run shows it reached the stores (2xx) and not only the validators.
  process.stdout.write(`fuzz ${collection}: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`);
  expect([...statuses.keys()].some((status) => status >= 200 && status < 300 && status !== 200)).toBe(true);
  await target.flush?.();
  // Every acknowledged write is what Postgres holds, and the seed records are untouched.
  for (const [recordId, expected] of state) {
    const rows = await target.db.query(`SELECT * FROM ${target.collection} WHERE id = $1`, [recordId]);
    if (expected === null) expect(rows.rowCount).toBe(0);
    else
      expect(rows.rows[0]).toMatchObject(Object.fromEntries(Object.entries(expected).filter(([k]) => !/At$/.test(k))));
  }
  expect((await target.db.query(`SELECT * FROM ${target.collection} WHERE id <= 5 ORDER BY id`)).rows).toEqual(
    seed.rows,
  );
}

const PATTERNS: [PatternAppDefinition, AdapterName][] = [
  [CACHE_ASIDE, 'express'],
  [READ_THROUGH, 'fastify'],
  [WRITE_THROUGH, 'express'],
  [WRITE_BEHIND, 'fastify'],
  [REFRESH_AHEAD, 'express'],
];

describe('fuzzing every app from its OpenAPI document', () => {
  it.each(PATTERNS.map(([definition, adapter]) => [definition.pattern, adapter, definition] as const))(
    '%s on %s: never a 5xx, a hang or internals; every 2xx holds; the seed is intact',
    async (_name, adapter, definition) => {
      const t = await startTestApp(definition, { adapter, env: { ADMIN_OPEN: 'false' } });
      try {
        await fuzz({
          http: t.http,
          db: t.db,
          collection: 'users',
          flush:
            definition.pattern === 'write-behind'
              ? async () => void (await t.http().post('/flush?wait=true').expect(200))
              : undefined,
          close: t.close,
        });
      } finally {
        await t.close();
      }
    },
    120_000,
  );

  it('blog on express: the same for posts', async () => {
    const blog = await startBlogTestApp({ env: { ADMIN_OPEN: 'false', BLOG_SEED_POSTS: '600' } });
    try {
      await fuzz({ http: blog.http, db: blog.db, collection: 'posts', close: blog.close });
    } finally {
      await blog.close();
    }
  }, 120_000);
});
