import { PATTERN_PORTS as READ_BY_SCRIPTS } from '../../../scripts/lib/patterns.mjs';
import { PATTERN_PORTS } from './patterns';

describe('the pattern list', () => {
  it('is what the scripts and benches read from its source file', () => {
    expect(READ_BY_SCRIPTS).toEqual(PATTERN_PORTS);
    expect(Object.keys(READ_BY_SCRIPTS)).toEqual(Object.keys(PATTERN_PORTS));
  });
});
