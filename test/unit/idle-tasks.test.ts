// Work deferred until the FUSE loop is idle: run in order, bounded, and never lost to a task that throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { idleTasksWaiting, runIdleTasks, whenIdle } from '../../src/util/idle-tasks.ts';

test('tasks run oldest first, a few at a time, and a turn of the event loop runs the rest', async () => {
  const ran: number[] = [];
  const push = (n: number): void => void ran.push(n);
  for (let i = 0; i < 5; i++) whenIdle(push, i);
  assert.equal(idleTasksWaiting(), true);
  runIdleTasks(2);
  assert.deepEqual(ran, [0, 1]);
  await turn();
  assert.deepEqual(ran, [0, 1, 2, 3, 4]);
  assert.equal(idleTasksWaiting(), false);
});

test('a task that throws is logged and the ones after it still run', () => {
  const ran: string[] = [];
  whenIdle(() => {
    throw new Error('deferred task failed on purpose');
  }, undefined);
  whenIdle((s: string) => void ran.push(s), 'after');
  runIdleTasks();
  assert.deepEqual(ran, ['after']);
  assert.equal(idleTasksWaiting(), false);
});

test('a queue nobody drains runs its oldest task rather than grow past its bound', () => {
  let ran = 0;
  const count = (): void => void ran++;
  for (let i = 0; i < 5000; i++) whenIdle(count, undefined);
  assert.ok(ran >= 5000 - 1024, `ran ${ran} of 5000 while queueing; at most 1024 wait`);
  runIdleTasks();
  assert.equal(ran, 5000);
});
