// The trim after a burst: once, a quiet spell after the last call, however many calls came.
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trimmerWhenQuiet } from '../../src/util/heap-trim.ts';
import { libc, trimMallocHeap } from '../../src/sys/libc.ts';

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

test('memory freed inside the C heap goes back to the system', () => {
  const malloc = libc.func('void *malloc(size_t size)');
  const memset = libc.func('void *memset(void *s, int c, size_t n)');
  const free = libc.func('void free(void *ptr)');
  const CHUNK = 64 * 1024;
  // 4 MiB in chunks below glibc's mmap threshold, so they come from the heap, written so that they are resident;
  // a small chunk after them keeps the heap's top in use, so that free() cannot shrink the heap by itself.
  const chunks = Array.from({ length: 64 }, () => memset(malloc(CHUNK), 1, CHUNK));
  const guard = malloc(64);
  try {
    for (const c of chunks) free(c);
    const before = heapRssKiB();
    assert.equal(trimMallocHeap(), true);
    const after = heapRssKiB();
    assert.ok(before - after >= 3 * 1024, `the heap's RSS went from ${before} to ${after} KiB`);
  } finally {
    free(guard);
  }
});

/** Resident KiB of the process's C heap ([heap] in smaps). */
function heapRssKiB(): number {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]');
  assert.ok(at >= 0, 'the process has a [heap] mapping');
  return Number(/\nRss:\s+(\d+) kB/.exec(smaps.slice(at))![1]);
}
