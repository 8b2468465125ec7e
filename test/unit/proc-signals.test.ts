// Whether a process is being killed, from /proc: a live one is not, one that has gone counts as killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { beingKilled } from '../../src/sys/proc-signals.ts';

test('a live process is not being killed; one that has gone is', async () => {
  assert.equal(beingKilled(process.pid), false, 'this process');
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  assert.equal(beingKilled(pid), false, 'a sleeping child');
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(beingKilled(pid), true, 'reaped');
});
