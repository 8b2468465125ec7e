// FUSE over io_uring through a real mount: requests arrive in ring entries
// instead of read(2) on /dev/fuse. The fuse module's enable_uring parameter is
// switched on around each mount and put back after (the kernel reads it at
// INIT). Entries are few (ringDepth 2) so that requests queue in the kernel,
// and a latency layer makes replies asynchronous.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ctlAsync, DIRECT, pyAsync, pyJson, ruleNamed, thenKilled, type CtlResult } from './layers-support.ts';
import { CLI, NODE, waitFor, withMount, withTempDir, writeConfig, type Daemon } from '../helpers/mount.ts';
import { run } from '../helpers/run.ts';
import { ENABLE_URING, mostDelivered, ringCompletions, withUringParam } from '../helpers/uring.ts';

const SERVING = /serving requests through FUSE over io_uring/;

function withRingMount<T>(yaml: string, fn: (mnt: string, d: Daemon) => Promise<T>): Promise<T> {
  return withUringParam('Y', () =>
    withTempDir('uring-cfg', (dir) => withMount(['--config', writeConfig(dir, yaml)], (mnt, d) => fn(mnt, d))),
  );
}

/**
 * Runs `interposer ctl rules` while a client keeps the mount busy with stats
 * from four threads (timeouts 0 make each a request), so that the next
 * request is nearly always queued, and answers whether the client was still at
 * it when ctl came back: the daemon's request loop must leave its event loop
 * (the control socket, timers, scrapes) a turn however eagerly requests come.
 * The client stops after 200,000 stats per thread at most.
 */
async function ctlAnsweredWhileBusy(mnt: string): Promise<{ answered: CtlResult; clientRunning: boolean }> {
  const client = pyAsync(
    mnt,
    `
import threading
put('busy', b'')
def loop():
    for i in range(200000): os.stat('busy')
ts = [threading.Thread(target=loop) for _ in range(4)]
[t.start() for t in ts]
for i in range(1000): os.stat('busy')
print('started')
[t.join() for t in ts]
print('finished')
`,
  );
  try {
    await client.started;
    const answered = await ctlAsync('rules', mnt).done;
    return { answered, clientRunning: client.child.exitCode === null && client.child.signalCode === null };
  } finally {
    client.child.kill('SIGKILL');
    await client.done;
  }
}

test('the kernel has FUSE over io_uring (Linux 6.14+, CONFIG_FUSE_IO_URING)', () => {
  assert.doesNotThrow(() => readFileSync(ENABLE_URING), `${ENABLE_URING} is missing`);
});

test('io_uring: data and metadata round-trip through ring entries, with replies that wait and more requests than entries', async () => {
  const yaml = `${DIRECT.replace('cache: direct,', 'cache: direct, ioUring: on, ringDepth: 2,')}
layers:
  - latency:
      rules:
        - { name: slow-read, ops: [read], paths: ['r*'], delay: 20ms }
`;
  await withRingMount(yaml, async (mnt, d) => {
    await waitFor(() => SERVING.test(d.log()), 10000, 'the daemon to switch to io_uring');
    // The kernel's own count: with timeouts 0 every stat is a request, and each must come in a ring entry.
    const before = ringCompletions(d.child.pid!);
    pyJson(mnt, `put('s', b'')\nfor i in range(200): os.stat('s')\nprint(json.dumps(1))`);
    const delivered = mostDelivered(before, ringCompletions(d.child.pid!));
    assert.ok(delivered >= 200, `200 stats came through the ring (${delivered} completions)`);
    // 1 MiB writes and reads fill a whole payload buffer; odd sizes check payload lengths both ways.
    const sums = pyJson<[string, string, number]>(
      mnt,
      `
import hashlib
data = os.urandom(3 * 1024 * 1024 + 12345)
with open('big', 'wb') as f:
    for i in range(0, len(data), 1024 * 1024): f.write(data[i:i + 1024 * 1024])
back = open('big', 'rb').read()
print(json.dumps([hashlib.sha256(data).hexdigest(), hashlib.sha256(back).hexdigest(), os.stat('big').st_size]))
`,
    );
    assert.equal(sums[1], sums[0], 'what is read back is what was written');
    assert.equal(sums[2], 3 * 1024 * 1024 + 12345);

    // 24 readers at once against 2 queues of 2 entries: each read waits 20 ms in the daemon.
    const readers = pyJson<string[]>(
      mnt,
      `
import threading
for i in range(24): put('r%d' % i, b'content %d' % i)
out = [None] * 24
def read(i): out[i] = open('r%d' % i, 'rb').read().decode()
ts = [threading.Thread(target=read, args=(i,)) for i in range(24)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(out))
`,
    );
    assert.deepEqual(
      readers,
      Array.from({ length: 24 }, (_, i) => `content ${i}`),
    );
    assert.ok(ruleNamed(mnt, 'slow-read')!.fired >= 24, 'the reads went through the delay');

    const names = pyJson<number[]>(
      mnt,
      `
os.mkdir('dir')
for i in range(300): put('dir/f%d' % i, b'')
n = len(os.listdir('dir'))
os.rename('dir/f0', 'dir/g0')
for name in os.listdir('dir'): os.unlink('dir/' + name)
os.rmdir('dir')
print(json.dumps([n, os.statvfs('.').f_bsize > 0]))
`,
    );
    assert.deepEqual(names, [300, true]);
  });
});

test('io_uring: ctl is answered while a client keeps the mount busy with requests back to back', async () => {
  await withRingMount(DIRECT.replace('cache: direct,', 'cache: direct, ioUring: on,'), async (mnt, d) => {
    await waitFor(() => SERVING.test(d.log()), 10000, 'the daemon to switch to io_uring');
    const { answered, clientRunning } = await ctlAnsweredWhileBusy(mnt);
    assert.equal(answered.status, 0, answered.stderr);
    assert.ok(clientRunning, 'ctl came back only once the client had stopped sending requests');
  });
});

test('io_uring: a request interrupted while the daemon holds it is answered, and the entry serves again', async () => {
  const yaml = `${DIRECT.replace('cache: direct,', 'cache: direct, ioUring: on, ringDepth: 1,')}
layers:
  - latency:
      rules:
        - { name: stuck, ops: [fsync], paths: [slow], delay: 60s }
`;
  await withRingMount(yaml, async (mnt, d) => {
    await waitFor(() => SERVING.test(d.log()), 10000, 'the daemon to switch to io_uring');
    const slow = pyAsync(mnt, `put('slow', b'x')\nfd = os.open('slow', os.O_WRONLY)\nprint('started')\nos.fsync(fd)\nprint('done')`);
    await thenKilled(slow, () => waitFor(() => ruleNamed(mnt, 'stuck')?.fired === 1, 20000, 'the fsync to reach the delay'));
    // With one entry per queue, every queue must be serving again for this to finish.
    const after = pyJson<string[]>(
      mnt,
      `
import threading
out = []
def work(i):
    put('after%d' % i, b'ok')
    out.append(open('after%d' % i).read())
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(out))
`,
    );
    assert.deepEqual(after, Array(8).fill('ok'));
  });
});

test('io_uring: --io-uring on where the kernel has it switched off is refused with what to do', async () => {
  await withUringParam('N', () =>
    withTempDir('uring-off', async (dir) => {
      const mnt = join(dir, 'mnt');
      run('mkdir', [mnt]);
      const r = run(NODE, [CLI, 'mount', '--backend', 'memory', '--io-uring', 'on', mnt]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /mount\.ioUring is on, but FUSE over io_uring needs .*echo Y > \/sys\/module\/fuse\/parameters\/enable_uring/);
      assert.match(r.stderr, /or set it to auto or off/);
    }),
  );
});

test('io_uring: auto falls back to /dev/fuse when the kernel does not offer it', async () => {
  await withUringParam('N', () =>
    withMount(
      ['--backend', 'memory', '--io-uring', 'auto', '--cache', 'direct', '--attr-timeout', '0', '--entry-timeout', '0'],
      async (mnt, d) => {
        writeFileSync(join(mnt, 'f'), 'plain');
        const before = ringCompletions(d.child.pid!);
        for (let i = 0; i < 50; i++) readFileSync(join(mnt, 'f'), 'utf8');
        assert.equal(readFileSync(join(mnt, 'f'), 'utf8'), 'plain');
        assert.doesNotMatch(d.log(), SERVING);
        assert.ok(mostDelivered(before, ringCompletions(d.child.pid!)) < 50, 'no ring delivers the requests');
      },
    ),
  );
});
