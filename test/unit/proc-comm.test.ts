// A process's command name, read through a descriptor kept per PID: it follows an exec and ends with
// the process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { commOf } from '../../src/sys/proc-comm.ts';

async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !f(); i++) await sleep(10);
}

test('the name follows an exec, and a process that has gone has none', async () => {
  const child = spawn('sh', ['-c', 'read line; exec sleep 30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const pid = child.pid!;
  try {
    await until(() => commOf(pid) === 'sh');
    assert.equal(commOf(pid), 'sh');
    child.stdin.write('\n');
    await until(() => commOf(pid) !== 'sh');
    assert.equal(commOf(pid), 'sleep', 'the same PID after its exec');
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  assert.equal(commOf(pid), '', 'reaped: no name');
  assert.equal(commOf(process.pid), readFileSync('/proc/self/comm', 'utf8').trimEnd(), 'this process: its own name');
});
