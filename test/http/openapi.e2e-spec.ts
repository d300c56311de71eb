import { Validator } from '@seriousme/openapi-schema-validator';
import type { Response } from 'supertest';
import { CACHE_ASIDE } from '../../apps/cache-aside/src/app.module';
import { WRITE_BEHIND } from '../../apps/write-behind/src/app.module';
import { type BlogTestApp, startBlogTestApp } from '../support/blog-app';
import { newUser, startTestApp, type TestApp } from '../support/test-app';

interface Operation {
  parameters?: { name: string; in: string }[];
  responses: Record<string, { headers?: Record<string, { required?: boolean }> }>;
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { properties?: Record<string, Record<string, unknown>> }>;
    securitySchemes?: Record<string, { type: string; scheme?: string; bearerFormat?: string }>;
  };
}

/** Headers the server sends: never declared as request parameters. */
const RESPONSE_HEADERS = ['x-cache', 'x-cache-chunks', 'link', 'etag', 'idempotent-replayed', 'retry-after'];

async function documentOf(http: () => ReturnType<TestApp['http']>): Promise<Document> {
  return (await http().get('/docs-json').expect(200)).body as Document;
}

async function expectValidOpenApi(document: Document): Promise<void> {
  const result = await new Validator().validate(document as unknown as Parameters<Validator['validate']>[0]);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
}

function expectNoResponseHeadersAsParameters(document: Document): void {
  const misplaced = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).flatMap(([method, operation]) =>
      (operation.parameters ?? [])
        .filter((parameter) => parameter.in === 'header' && RESPONSE_HEADERS.includes(parameter.name.toLowerCase()))
        .map((parameter) => `${method.toUpperCase()} ${path}: ${parameter.name}`),
    ),
  );
  expect(misplaced).toEqual([]);
}

/** Every header the document declares as always sent (`required`) with this answer is in `response`. */
function expectDeclaredHeadersSent(document: Document, path: string, method: string, response: Response): void {
  const declared = document.paths[path]?.[method]?.responses[String(response.status)];
  expect({ path, method, status: response.status, declared: declared !== undefined }).toMatchObject({ declared: true });
  const required = Object.entries(declared?.headers ?? {})
    .filter(([, header]) => header.required === true)
    .map(([name]) => name.toLowerCase());
  const missing = required.filter((name) => response.headers[name] === undefined);
  expect({ path, method, status: response.status, missing }).toEqual({
    path,
    method,
    status: response.status,
    missing: [],
  });
}

describe('the OpenAPI document of a pattern app', () => {
  let t: TestApp;
  let document: Document;

  beforeAll(async () => {
    t = await startTestApp(CACHE_ASIDE);
    document = await documentOf(t.http);
  });

  afterAll(async () => {
    await t.close();
  });

  it('is valid OpenAPI (checked against the official schema)', async () => {
    await expectValidOpenApi(document);
  });

  it('declares X-Cache and ETag as response headers, not request parameters', () => {
    expectNoResponseHeadersAsParameters(document);
    const read = document.paths['/users/{id}']!.get!;
    expect(Object.keys(read.responses['200']!.headers ?? {})).toEqual(expect.arrayContaining(['ETag', 'X-Cache']));
    expect(Object.keys(read.responses['304']!.headers ?? {})).toEqual(expect.arrayContaining(['ETag', 'X-Cache']));
  });

  it('calls the admin token what it is, and describes age as an integer from 0 to 150', () => {
    const schemes = Object.values(document.components.securitySchemes ?? {});
    expect(schemes).toEqual([expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'ADMIN_TOKEN' })]);
    for (const dto of ['CreateUserDto', 'UserDto']) {
      expect(document.components.schemas[dto]!.properties!.age).toMatchObject({
        type: 'integer',
        minimum: 0,
        maximum: 150,
      });
    }
  });

  it('sends every response header it declares as always sent', async () => {
    const created = await t.http().post('/users').send(newUser()).expect(201);
    expectDeclaredHeadersSent(document, '/users', 'post', created);
    const id = created.body.id as number;
    const read = await t.http().get(`/users/${id}`).expect(200);
    expectDeclaredHeadersSent(document, '/users/{id}', 'get', read);
    const notModified = await t.http().get(`/users/${id}`).set('If-None-Match', read.headers.etag!).expect(304);
    expectDeclaredHeadersSent(document, '/users/{id}', 'get', notModified);
    const patched = await t.http().patch(`/users/${id}`).send({ age: 41 }).expect(200);
    expectDeclaredHeadersSent(document, '/users/{id}', 'patch', patched);
    const replaced = await t.http().put(`/users/${id}`).send(newUser()).expect(200);
    expectDeclaredHeadersSent(document, '/users/{id}', 'put', replaced);
    const body = newUser();
    await t.http().post('/users').set('Idempotency-Key', `k-${id}`).send(body).expect(201);
    const again = await t.http().post('/users').set('Idempotency-Key', `k-${id}`).send(body).expect(201);
    expectDeclaredHeadersSent(document, '/users', 'post', again);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(Object.keys(document.paths['/users']!.post!.responses['201']!.headers ?? {})).toContain(
      'Idempotent-Replayed',
    );
    const deleted = await t.http().delete(`/users/${id}`).expect(204);
    expectDeclaredHeadersSent(document, '/users/{id}', 'delete', deleted);
  });
});

describe('the OpenAPI document of write-behind', () => {
  it('is valid and shows the replay body', async () => {
    const t = await startTestApp(WRITE_BEHIND);
    try {
      const document = await documentOf(t.http);
      await expectValidOpenApi(document);
      expectNoResponseHeadersAsParameters(document);
      const ids = document.components.schemas.ReplayDto!.properties!.ids;
      expect(ids).toMatchObject({ type: 'array', items: { type: 'integer', minimum: 1 }, maxItems: 10_000 });
    } finally {
      await t.close();
    }
  });
});

describe('the OpenAPI document of the blog', () => {
  let blog: BlogTestApp;
  let document: Document;

  beforeAll(async () => {
    blog = await startBlogTestApp();
    document = await documentOf(blog.http);
  });

  afterAll(async () => {
    await blog.close();
  });

  it('is valid, and the list headers are response headers that are sent', async () => {
    await expectValidOpenApi(document);
    expectNoResponseHeadersAsParameters(document);
    const full = await blog.http().get('/posts').set('Accept-Encoding', 'identity').expect(200);
    expectDeclaredHeadersSent(document, '/posts', 'get', full);
    expect(full.headers['x-cache-chunks']).toMatch(/^\d+\/\d+$/);
    const page = await blog.http().get('/posts?limit=10').expect(200);
    expectDeclaredHeadersSent(document, '/posts', 'get', page);
    expect(page.headers.link).toBe('</posts?limit=10&after=10>; rel="next"');
    const headers = Object.keys(document.paths['/posts']!.get!.responses['200']!.headers ?? {});
    expect(headers).toEqual(expect.arrayContaining(['X-Cache', 'X-Cache-Chunks', 'Link']));
    const read = await blog.http().get('/posts/1').expect(200);
    expectDeclaredHeadersSent(document, '/posts/{id}', 'get', read);
  });
});
