import { BadRequestException, type ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { JsonBodyPipe } from '@app/common';
import { CreateUserDto, PatchUserDto } from './user.dto';

const body = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({ type: 'body', metatype });

/** What a pipe makes of a body: the value it passes on, or the 400's response body. */
async function outcome(pipe: JsonBodyPipe | ValidationPipe, value: unknown, metadata: ArgumentMetadata) {
  try {
    return { passed: await pipe.transform(value, metadata) };
  } catch (error) {
    if (!(error instanceof BadRequestException)) throw error;
    return { refused: error.getResponse() };
  }
}

// Bodies that pass `holdToShape` (JSON objects), valid and not, for both the all-fields and the partial DTO.
const BODIES: Record<string, unknown>[] = [
  { name: 'Ada', email: 'ada@example.com', age: 36 },
  { name: 'Ada', email: 'ada@example.com', age: 36, admin: true },
  { name: 'Ada', email: 'ada@example.com' },
  { name: ' ', email: 'ada@example.com', age: 36 },
  { name: 'Ada', email: 'not an email', age: 36 },
  { name: 'Ada', email: 'ada@example.com', age: 36.5 },
  { name: 'Ada', email: 'ada@example.com', age: '36' },
  { name: 'Ada', email: 'ada@example.com', age: 151 },
  { name: 'x'.repeat(256), email: 'ada@example.com', age: 36 },
  { name: null, email: 'ada@example.com', age: 36 },
  { name: { first: 'Ada' }, email: ['ada@example.com'], age: 36 },
  { age: 40 },
  { age: null },
  { email: 'ADA@example.com' },
  { nickname: 'ada' },
  {},
];

describe('JsonBodyPipe', () => {
  const pipe = new JsonBodyPipe();
  // The ValidationPipe the fast path stands in for: same rules, the body passed on as parsed.
  const reference = new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: false,
    stopAtFirstError: false,
  });

  it.each([CreateUserDto, PatchUserDto])('passes and refuses exactly what ValidationPipe does (%p)', async (dto) => {
    for (const value of BODIES) {
      const expected = await outcome(reference, structuredClone(value), body(dto));
      const actual = await outcome(pipe, value, body(dto));
      if ('passed' in expected) expect(actual).toEqual({ passed: value });
      else expect(actual).toEqual(expected);
    }
  });

  it('passes the body it was given, not a copy', async () => {
    const value = { age: 40 };
    await expect(pipe.transform(value, body(PatchUserDto))).resolves.toBe(value);
  });

  it('leaves bodies without a DTO class, and every other parameter, unvalidated', async () => {
    await expect(pipe.transform({ anything: 1 }, body(Object))).resolves.toEqual({ anything: 1 });
    await expect(pipe.transform({ anything: 1 }, body(undefined))).resolves.toEqual({ anything: 1 });
    expect(pipe.transform('12', { type: 'param', metatype: Number, data: 'id' })).toBe('12');
  });

  it('refuses a body that is not a JSON object before any validation', async () => {
    for (const value of [null, 'text', 7, [{ age: 1 }]]) {
      await expect(outcome(pipe, value, body(PatchUserDto))).resolves.toEqual({
        refused: expect.objectContaining({
          message: 'The body must be a JSON object, sent with Content-Type: application/json',
        }),
      });
    }
  });
});
