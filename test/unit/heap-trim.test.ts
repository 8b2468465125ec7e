// The trim after a burst: once, a quiet spell after the last call, however many calls came.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trimmerWhenQuiet } from '../../src/util/heap-trim.ts';
import { trimMallocHeap } from '../../src/sys/libc.ts';

test('a burst of calls trims once, a quiet spell after the last of them', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let trims = 0;
  const called = trimmerWhenQuiet(() => trims++, 2000);
  for (let i = 0; i < 5; i++) {
    called();
    t.mock.timers.tick(1500);
  }
  assert.equal(trims, 0, 'each call puts the trim off');
  t.mock.timers.tick(500);
  assert.equal(trims, 1, '2 s after the last call');
  t.mock.timers.tick(10_000);
  assert.equal(trims, 1, 'not again without calls');
  called();
  t.mock.timers.tick(2000);
  assert.equal(trims, 2, 'the next burst trims again');
});

test("the C heap's trim runs here (glibc)", () => {
  assert.equal(typeof trimMallocHeap(), 'boolean');
});
