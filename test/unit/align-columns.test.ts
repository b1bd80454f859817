import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignColumns } from '../../src/ctl/align-columns.js';

test('columns: names flush left, figures flush right, no trailing blanks', () => {
  assert.deepEqual(
    alignColumns(
      [
        ['backend', 'state', 'share'],
        ['http://a:8000', 'up', '100%'],
        ['b', 'ejected', '-'],
      ],
      2,
    ),
    ['backend        state    share', 'http://a:8000  up        100%', 'b              ejected      -'],
  );
});
