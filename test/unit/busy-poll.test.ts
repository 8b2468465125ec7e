// The busy-poll window: caught requests keep it, missed ones halve it down to
// nothing, and a sleep that a window would have covered opens it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusyPoll } from '../../src/fuse/busy-poll.ts';
import * as sys from '../../src/sys/libc.ts';
import { seqpacketPair } from '../fixtures/fuse-harness.ts';

test('spin finds a readable fd; missed windows halve down to 0; a short sleep reopens the window', () => {
  const [a, b] = seqpacketPair();
  try {
    const p = new BusyPoll(0.2);
    assert.equal(p.spin(b), false, 'nothing to read');
    assert.equal(p.window, 0.1);
    const widths = [];
    while (p.window > 0) {
      p.spin(b);
      widths.push(p.window);
    }
    assert.deepEqual(widths, [0.05, 0.025, 0.0125, 0]);
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
