// Times as float ms plus exact-nanosecond hints (src/vfs/time.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitTime } from '../../src/vfs/time.ts';

const pair = (ms: number, hint?: number): [number, number] => {
  const t = splitTime(ms, hint);
  return [t.sec, t.nsec];
};

test('without a hint, a time splits to the double precision of ms', () => {
  assert.deepEqual(pair(1500), [1, 500_000_000]);
  assert.deepEqual(pair(0), [0, 0]);
  assert.deepEqual(pair(-1500), [-2, 500_000_000]);
});

test('a hint that agrees with ms gives the exact nanoseconds, even next to a second boundary', () => {
  // 1700000000.987654321 s: the double in ms cannot hold the last digits.
  const ms = 1700000000 * 1000 + 987.654321;
  assert.notEqual(pair(ms)[1], 987_654_321);
  assert.deepEqual(pair(ms, 987_654_321), [1700000000, 987_654_321]);
  // 0.999999999 s past a second: rounding ms alone could land on the next second.
  const edge = 1700000000 * 1000 + 999.999999;
  assert.deepEqual(pair(edge, 999_999_999), [1700000000, 999_999_999]);
});

test('a stale hint (the time changed since) is ignored', () => {
  assert.deepEqual(pair(1_700_000_005_250, 987_654_321), [1700000005, 250_000_000]);
});
