// Latency and throttling through a real mount, measured from outside it. Only
// lower bounds that follow from the configuration are asserted (N delays of D
// take at least N*D; B bytes at rate R with burst U take at least (B-U)/R):
// speed and accuracy belong to bench/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pyAsync, pyJson, ruleNamed, thenKilled, withConfig } from './layers-support.ts';
import { waitFor } from '../helpers/mount.ts';

const MiB = 1024 * 1024;
/** Clocks of two processes and float rounding: a bound of S seconds is checked as S minus this. */
const SLACK = 0.005;

/** Python: does `n` fsyncs of `name` and prints the seconds they took. */
const fsyncs = (name: string, n: number): string => `
fd = os.open('${name}', os.O_WRONLY | os.O_CREAT)
os.write(fd, b'x')
t = time.perf_counter()
for i in range(${n}):
    os.fsync(fd)
print(json.dumps(time.perf_counter() - t))
`;

test('latency: a fixed 50 ms delay on fsync makes 20 fsyncs take at least 1 s; other ops are not delayed by it', async () => {
  const yaml = `
layers:
  - latency:
      rules:
        - { name: slow-fsync, ops: [fsync], paths: [f], delay: 50ms }
`;
  await withConfig(yaml, async (mnt) => {
    const took = pyJson<number>(mnt, fsyncs('f', 20));
    assert.ok(took >= 20 * 0.05 - SLACK, `20 fsyncs took ${took}s`);
    assert.deepEqual(ruleNamed(mnt, 'slow-fsync'), { layer: 0, kind: 'latency', name: 'slow-fsync', matched: 20, fired: 20 });
    pyJson(mnt, fsyncs('g', 20));
    assert.equal(ruleNamed(mnt, 'slow-fsync')!.matched, 20, 'fsyncs of another file do not match');
  });
});

test('latency: distribution rules delay each op by at least their minimum (uniform min, pareto scale)', async () => {
  const yaml = `
layers:
  - latency:
      seed: 5
      rules:
        - { name: uniform, ops: [fsync], paths: [u], distribution: { uniform: { min: 30ms, max: 60ms } } }
        - { name: pareto, ops: [fsync], paths: [p], distribution: { pareto: { scale: 20ms, shape: 3 } } }
        - { name: lognormal, ops: [fsync], paths: [l], distribution: { lognormal: { median: 2ms, p99: 20ms } } }
`;
  await withConfig(yaml, async (mnt) => {
    const u = pyJson<number>(mnt, fsyncs('u', 20));
    assert.ok(u >= 20 * 0.03 - SLACK, `uniform: 20 fsyncs took ${u}s`);
    const p = pyJson<number>(mnt, fsyncs('p', 20));
    assert.ok(p >= 20 * 0.02 - SLACK, `pareto: 20 fsyncs took ${p}s`);
    pyJson(mnt, fsyncs('l', 50));
    assert.equal(ruleNamed(mnt, 'lognormal')!.fired, 50);
  });
});

test('latency: a stat and a read of another file complete while an fsync is being delayed', async () => {
  const yaml = `
layers:
  - latency:
      rules:
        - { name: stuck, ops: [fsync], paths: [slow], delay: 60s }
`;
  await withConfig(yaml, async (mnt) => {
    const slow = pyAsync(mnt, `put('slow', b'x')\nfd = os.open('slow', os.O_WRONLY)\nprint('started')\nos.fsync(fd)\nprint('done')`);
    // The kill: the kernel interrupts the request, and the daemon answers EINTR.
    await thenKilled(slow, async () => {
      await waitFor(() => ruleNamed(mnt, 'stuck')?.fired === 1, 20000, 'the fsync to reach the delay');
      const other = pyJson<[number, string]>(
        mnt,
        `put('fast', b'quick')\nprint(json.dumps([os.stat('fast').st_size, open('fast').read()]))`,
      );
      assert.deepEqual(other, [5, 'quick']);
      assert.equal(slow.child.exitCode, null, 'the delayed fsync is still waiting');
    });
  });
});

test('latency: a signal the caller handles does not cut a delay short, as a slow disk would not; a kill ends it', async () => {
  const yaml = `
layers:
  - latency:
      rules:
        - { name: slow-write, ops: [write], paths: [w], delay: 300ms }
        - { name: stuck, ops: [fsync], paths: [s], delay: 1h }
`;
  await withConfig(yaml, async (mnt) => {
    // A timer with SA_RESTART ticks through the delayed write; libc's pwrite through ctypes, which
    // (unlike os.pwrite) does not retry an EINTR itself.
    const write = pyJson<[number, string]>(
      mnt,
      `
import ctypes, signal
libc = ctypes.CDLL(None, use_errno=True)
signal.signal(signal.SIGALRM, lambda *a: None)
signal.siginterrupt(signal.SIGALRM, False)
fd = os.open('w', os.O_WRONLY | os.O_CREAT, 0o644)
signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
n = libc.pwrite(fd, b'x' * 4096, 4096, ctypes.c_long(0))
e = ctypes.get_errno()
signal.setitimer(signal.ITIMER_REAL, 0)
print(json.dumps([n, 'ok' if n >= 0 else errno.errorcode[e]]))
`,
    );
    assert.deepEqual(write, [4096, 'ok'], 'the write waited out its delay instead of failing with EINTR');
    assert.equal(ruleNamed(mnt, 'slow-write')?.fired, 1, 'once: not cut short and sent again');
    // An fsync delayed for an hour: SIGINT, which the caller handles, leaves it waiting; the SIGKILL
    // after it, of which the kernel tells the daemon nothing more, ends it (or the test times out).
    const stuck = pyAsync(
      mnt,
      `import signal
signal.signal(signal.SIGINT, lambda *a: None)
fd = os.open('s', os.O_WRONLY | os.O_CREAT, 0o644)
print('started')
os.fsync(fd)
print('done')`,
    );
    await thenKilled(stuck, async () => {
      await waitFor(() => ruleNamed(mnt, 'stuck')?.fired === 1, 20000, 'the fsync to reach the delay');
      stuck.child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(ruleNamed(mnt, 'stuck')?.fired, 1, 'the handled SIGINT did not end the delay (a retry would fire it again)');
      assert.equal(stuck.child.exitCode, null, 'still waiting');
    });
    // SIGTERM, not handled: the process is being killed, and the delay ends at once.
    const term = pyAsync(mnt, `fd = os.open('s', os.O_WRONLY)\nprint('started')\nos.fsync(fd)\nprint('done')`);
    await term.started;
    await waitFor(() => ruleNamed(mnt, 'stuck')?.fired === 2, 20000, 'the second fsync to reach the delay');
    term.child.kill('SIGTERM');
    assert.equal((await term.done).signal, 'SIGTERM');
  });
});

/** Python: writes `mib` MiB of `name` (unless `read`) or reads it, in 128 KiB requests; prints the seconds it took. */
function stream(name: string, mib: number, read: boolean): string {
  return `
chunk = os.urandom(128 * 1024)
n = ${mib} * 8
${read ? `put('${name}', chunk * n)\nfd = os.open('${name}', os.O_RDONLY)` : `fd = os.open('${name}', os.O_WRONLY | os.O_CREAT)`}
t = time.perf_counter()
total = 0
for i in range(n):
    total += ${read ? 'len(os.pread(fd, len(chunk), i * len(chunk)))' : 'os.pwrite(fd, chunk, i * len(chunk))'}
took = time.perf_counter() - t
assert total == n * len(chunk), total
print(json.dumps(took))
`;
}

test('throttle: a 1 MiB/s read cap makes reading 3 MiB take at least 2 s (3 MiB minus the 1 MiB burst)', async () => {
  await withConfig('layers:\n  - throttle: { read: 1MiB/s }\n', async (mnt) => {
    const took = pyJson<number>(mnt, stream('r', 3, true));
    assert.ok(took >= (3 * MiB - 1 * MiB) / MiB - SLACK, `reading 3 MiB took ${took}s`);
  });
});

test('throttle: a 1 MiB/s write cap with a 512 KiB burst makes writing 3 MiB take at least 2.5 s', async () => {
  await withConfig('layers:\n  - throttle: { write: 1MiB/s, burst: 512KiB }\n', async (mnt) => {
    const took = pyJson<number>(mnt, stream('w', 3, false));
    assert.ok(took >= (3 * MiB - 512 * 1024) / MiB - SLACK, `writing 3 MiB took ${took}s`);
  });
});

test('throttle: an iops cap of 40 makes 100 small reads take at least (100 - 4) / 40 s', async () => {
  const iops = 40;
  const n = 100;
  await withConfig(`layers:\n  - throttle: { iops: ${iops} }\n`, async (mnt) => {
    const took = pyJson<number>(
      mnt,
      `
put('f', b'x' * 4096)
fd = os.open('f', os.O_RDONLY)
t = time.perf_counter()
for i in range(${n}):
    os.pread(fd, 16, 0)
print(json.dumps(time.perf_counter() - t))
`,
    );
    const burst = Math.max(1, iops / 10);
    assert.ok(took >= (n - burst) / iops - SLACK, `${n} reads took ${took}s`);
  });
});

test('throttle: onLimit fail answers EAGAIN instead of waiting', async () => {
  const yaml = 'layers:\n  - throttle: { read: 64KiB/s, burst: 64KiB, onLimit: fail }\n';
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<string[]>(
      mnt,
      `
put('f', b'x' * 65536)
fd = os.open('f', os.O_RDONLY)
print(json.dumps([outcome(lambda: str(len(os.pread(fd, 32768, 0)))) for i in range(6)]))
`,
    );
    // The 64 KiB burst holds two 32 KiB reads; a third needs half a second of refill.
    assert.deepEqual(out.slice(0, 2), ['32768', '32768']);
    assert.ok(out.slice(2).includes('EAGAIN'), JSON.stringify(out));
    assert.ok(
      out.every((o) => o === '32768' || o === 'EAGAIN'),
      JSON.stringify(out),
    );
  });
});

test('throttle: onLimit fail lets a read larger than the burst pass from a full bucket, then answers EAGAIN', async () => {
  // 1 KiB/s: the 64 KiB of debt the first read leaves take a minute to pay back.
  const yaml = 'layers:\n  - throttle: { read: 1KiB/s, burst: 64KiB, onLimit: fail }\n';
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<string[]>(
      mnt,
      `
put('f', b'x' * 131072)
fd = os.open('f', os.O_RDONLY)
print(json.dumps([outcome(lambda: str(len(os.pread(fd, 131072, 0)))), outcome(lambda: str(len(os.pread(fd, 1, 0))))]))
`,
    );
    assert.deepEqual(out, ['131072', 'EAGAIN']);
  });
});

test('throttle: a per-rule cap on one file; a stat and a full read of another complete while it waits', async () => {
  const yaml = `
layers:
  - throttle:
      rules:
        - { name: slow, ops: [read], paths: [slow], read: 32KiB/s, burst: 32KiB }
`;
  await withConfig(yaml, async (mnt) => {
    // 1 MiB at 32 KiB/s after a 32 KiB burst: at least 31 s of waiting.
    const slow = pyAsync(
      mnt,
      `put('slow', b's' * 1048576)\nfd = os.open('slow', os.O_RDONLY)\nprint('started')\nos.pread(fd, 1048576, 0)\nprint('done')`,
    );
    await thenKilled(slow, async () => {
      await waitFor(() => ruleNamed(mnt, 'slow')?.matched === 1, 20000, 'the read to reach the throttle');
      const other = pyJson<[number, number, string[]]>(
        mnt,
        `put('fast', b'f' * 1048576)\nprint(json.dumps([os.stat('fast').st_size, len(open('fast', 'rb').read()), sorted(os.listdir('.'))]))`,
      );
      assert.deepEqual(other, [MiB, MiB, ['fast', 'slow']]);
      assert.equal(slow.child.exitCode, null, 'the throttled read is still waiting');
    });
  });
});
