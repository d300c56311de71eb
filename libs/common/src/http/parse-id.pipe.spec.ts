import { BadRequestException } from '@nestjs/common';
import { ParseIdPipe } from './parse-id.pipe';

describe('ParseIdPipe', () => {
  const pipe = new ParseIdPipe();

  it.each([
    ['1', 1],
    ['42', 42],
    ['2147483647', 2147483647],
  ])('accepts %s', (raw, id) => {
    expect(pipe.transform(raw)).toBe(id);
  });

  it.each(['0', '-1', '01', '1.0', '1e3', '0x10', ' 1', '2147483648', '', 'abc'])('rejects "%s"', (raw) => {
    expect(() => pipe.transform(raw)).toThrow(BadRequestException);
  });
});
