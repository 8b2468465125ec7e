// The bench's clients run together: each waits for the common start, does its step, and says when it
// ran; the step's rate is all their operations over the time from the first start to the last end.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOGETHER_AFTER_MS, worker, workersTogether } from '../../bench/exec.ts';

/** How closely the wall clocks of two processes agree (the clients time themselves from theirs). */
const CLOCKS_AGREE_S = 0.05;

test('clients started together each do their share, timed from the first start to the last end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'interposer-bench-workers-'));
  try {
    const dirs = [join(dir, 'a'), join(dir, 'b'), join(dir, 'c')];
    const called = Date.now();
    const r = await workersTogether(
      'create',
      dirs.map((d) => [d, 40, 16]),
    );
    assert.equal(r.ops, 120);
    for (const d of dirs) assert.equal(readdirSync(d).length, 40, `${d} has its client's files`);
    assert.ok(Number.isFinite(r.seconds) && r.seconds > 0, `a time from the clients' own start and end, got ${r.seconds}`);
    // No client begins before the common start, so a time that counts their spawning and the wait is too long.
    const sinceCalled = (Date.now() - called) / 1000;
    assert.ok(
      r.seconds <= sinceCalled - TOGETHER_AFTER_MS / 1000 + CLOCKS_AGREE_S,
      `${r.seconds} s from the first start to the last end, within the ${sinceCalled} s of the call less the wait for the start`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a client told when to start waits for it and says when it began and ended', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'interposer-bench-workers-'));
  try {
    const startAt = Date.now() + 800;
    const r = await worker('create', [join(dir, 'd'), 5, 1], { BENCH_START_AT: String(startAt) });
    assert.equal(r.ops, 5);
    assert.ok(r.startedAt >= startAt, `began at ${r.startedAt}, not before ${startAt}`);
    assert.ok(r.endedAt >= r.startedAt);
    const alone = await worker('create', [join(dir, 'e'), 5, 1]);
    assert.equal(alone.startedAt, undefined, 'without a start time it prints its step alone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
