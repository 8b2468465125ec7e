// The busy-poll window: caught requests keep it, sleeps longer than any window
// halve it down to nothing, and a sleep that a window would have covered opens
// it again, also after a spin that found nothing. And a spin lets a client
// woken on its CPU run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { BusyPoll } from '../../src/fuse/busy-poll.ts';
import * as sys from '../../src/sys/libc.ts';
import { seqpacketPair } from '../fixtures/fuse-harness.ts';

test('spin finds a readable fd; long sleeps halve the window down to 0; a short sleep reopens it', () => {
  const [a, b] = seqpacketPair();
  try {
    const p = new BusyPoll(0.2);
    assert.equal(p.spin(b), false, 'nothing to read');
    assert.equal(p.window, 0.2, 'a spin that found nothing leaves the window to the sleep after it');
    const widths = [];
    while (p.window > 0) {
      p.slept(Infinity);
      widths.push(p.window);
    }
    assert.deepEqual(widths, [0.1, 0.05, 0.025, 0.0125, 0], 'sleeps that timed out');
    assert.equal(p.spin(b), false, 'a closed window does not spin');

    p.slept(5);
    assert.equal(p.window, 0, 'a request 5 ms after the queue ran dry: no window would have caught it');
    p.slept(0.15);
    assert.equal(p.window, 0.025, 'one that came within the longest window reopens it');
    p.slept(0.15);
    p.slept(0.15);
    p.slept(0.15);
    assert.equal(p.window, 0.2, 'and it grows back to the longest, no further');

    assert.equal(sys.write(a, Buffer.from('x'), 1), 1);
    assert.equal(p.spin(b), true, 'a request waiting is found');
    assert.equal(p.window, 0.2, 'a caught request keeps the window');
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

test('requests that keep coming a little after the window ends widen it until it covers them', () => {
  const [a, b] = seqpacketPair();
  try {
    const p = new BusyPoll(0.2);
    p.slept(Infinity);
    p.slept(Infinity);
    p.slept(Infinity);
    assert.equal(p.window, 0.025);
    // A client that reads its disk for ~0.1 ms between requests: each spin misses, each sleep ends
    // within the longest window, so the window grows (it once halved on the miss and doubled back).
    const widths = [];
    for (let i = 0; i < 3; i++) {
      assert.equal(p.spin(b), false);
      p.slept(0.1 + p.window);
      widths.push(p.window);
    }
    assert.deepEqual(widths, [0.05, 0.1, 0.2]);
  } finally {
    sys.close(a);
    sys.close(b);
  }
});

test('a spin lets a client woken on its own CPU send its request at once', async () => {
  // This thread and the child share CPU 0. Without the spin's yield, the child woken by our write
  // runs only when the scheduler preempts the spinner, thousands of checks later.
  const saved = execFileSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .pop()!;
  execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  try {
    for (let round = 0; round < 5; round++) {
      const [a, b] = seqpacketPair();
      try {
        const child = spawn('python3', ['-c', 'import os; os.write(3, b"r"); os.read(0, 1); os.write(3, b"q")'], {
          stdio: ['pipe', 'ignore', 'inherit', a],
        });
        const exited = new Promise((resolve) => child.on('exit', resolve));
        assert.ok((await sys.pollOneAsync(b, sys.POLLIN, 10_000)) > 0, 'the child started');
        assert.equal(sys.read(b, Buffer.alloc(1), 1), 1);
        child.stdin!.write('g'); // wakes the child, blocked in read(2), on this CPU
        let checks = 0;
        const caught = new BusyPoll(50).spinUntil(() => (checks++, sys.pollOne(b, sys.POLLIN, 0) > 0));
        await exited;
        assert.ok(caught, 'the request came within the window');
        assert.ok(checks <= 32, `round ${round}: the request came after ${checks} checks; expected within the first few yields`);
      } finally {
        sys.close(a);
        sys.close(b);
      }
    }
  } finally {
    execFileSync('taskset', ['-p', saved, String(process.pid)], { stdio: 'ignore' });
  }
});
