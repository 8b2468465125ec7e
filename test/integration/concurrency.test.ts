// Requests are served concurrently: a read the daemon keeps pending does not
// hold up anything else on the mount, and many processes working at once all
// get the right bytes. Nothing here measures time: an operation stuck behind
// another hangs, and the test timeout turns that into a failure.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, ROOT, isMounted, stopDaemon, tempDir, waitFor, withMount, withTempDir, type Daemon } from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';
import { shAsync, start, stopChild, type Child } from '../fixtures/children.ts';

const SLOW_FS = join(ROOT, 'test/fixtures/slow-fs.ts');
const MiB = 1024 * 1024;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// A test that hangs is ended by the test timeout without reaching its
// finally; what it started is stopped here instead.
const leftovers = new Set<() => Promise<unknown>>();
after(async () => {
  for (const stop of leftovers) await stop();
});

/** Starts test/fixtures/slow-fs.ts on `mnt` and waits until it says it has mounted. */
async function startSlowFs(mnt: string): Promise<Daemon> {
  const child = spawn(NODE, [SLOW_FS, mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const d: Daemon = { mountpoint: mnt, child, log: () => out, exited };
  try {
    await waitFor(() => out.includes('mounted\n') || child.exitCode !== null, 15000, 'slow-fs to mount');
  } catch (err) {
    await stopDaemon(d);
    throw err;
  }
  if (!isMounted(mnt)) throw new Error(`slow-fs did not mount:\n${out}`);
  return d;
}

/** True once `pid` sits in a read(2) of a file whose path ends with `name`. */
function blockedReading(pid: number, name: string): boolean {
  try {
    const [nr, fd] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
    return nr === '0' && readlinkSync(`/proc/${pid}/fd/${Number(fd)}`).endsWith(`/${name}`);
  } catch {
    return false; // not started, exited, or running (syscall says "running")
  }
}

test('a read the daemon keeps pending does not block stat, ls, or I/O on other files', async () => {
  const mnt = tempDir('slow');
  const scratch = tempDir('slow-scratch');
  let d: Daemon | undefined;
  let reader: Child | undefined;
  // The daemon goes first: a read it has already taken ends only with an
  // answer or the end of the connection, not even with SIGKILL to the reader.
  const cleanup = async (): Promise<void> => {
    if (d) await stopDaemon(d);
    await stopChild(reader);
    rmSync(mnt, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  };
  leftovers.add(cleanup);
  try {
    d = await startSlowFs(mnt);
    const data = randomBytes(3 * MiB);
    writeFileSync(join(mnt, 'slow'), data); // the daemon is another process: sync calls are fine
    assert.equal(statSync(join(mnt, 'slow')).size, data.length);

    const big = randomBytes(4 * MiB);
    const native = join(scratch, 'big');
    writeFileSync(native, big);

    reader = start('sha256sum', ['slow'], { cwd: mnt });
    const pid = reader.proc.pid!;
    await waitFor(() => blockedReading(pid, 'slow'), 15000, 'the reader to block in read(2) on slow');

    // Each of these would hang if the pending read held up the daemon. They
    // run in child processes, never as fs calls of this process, so that a
    // hang stays a hang of a child and the test timeout can end the test.
    const inMount = (script: string) => shAsync(script, { cwd: mnt });
    assert.equal(await inMount('stat -c "%s %F" slow'), `${data.length} regular file\n`);
    assert.equal(await inMount('ls'), 'slow\n');
    await inMount('mkdir dir && printf "other data" > dir/other');
    assert.equal(await inMount('cat dir/other'), 'other data');
    assert.equal(await inMount(`cp ${native} dir/big && sha256sum dir/big`), `${sha256(big)}  dir/big\n`);
    await inMount('mv dir/other dir/renamed && chmod 600 dir/renamed && rm dir/big && echo appended >> dir/renamed');
    assert.equal(await inMount('ls dir && cat dir/renamed'), 'renamed\nother dataappended\n');
    assert.equal((await inMount('df --output=source .')).trim().split('\n')[1], 'interposer:slow');

    assert.equal(reader.proc.exitCode, null, 'the slow read is still pending after all of that');
    assert.ok(blockedReading(pid, 'slow'), 'and still waiting in read(2)');

    await inMount('touch release');
    const r = await reader.done;
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${sha256(data)}  slow\n`, 'the slow read completes with the right data');
    assert.ok(d.child.exitCode === null, 'the daemon is still serving');
  } finally {
    leftovers.delete(cleanup);
    await cleanup();
  }
});

test('32 dd readers and writers on different files while find walks a tree', async () => {
  await withTempDir('conc-src', async (src) => {
    sh('for i in $(seq 0 15); do head -c 8M /dev/urandom > w$i; head -c 8M /dev/urandom > r$i; done', { cwd: src });
    const want = (name: string) => sha256(readFileSync(join(src, name)));
    // --cache direct: every read and write reaches the daemon.
    await withMount(['--backend', 'memory:1GiB', '--cache', 'direct'], async (mnt) => {
      const made = run('python3', [
        '-c',
        `import os, sys
for d in range(20):
    os.makedirs(os.path.join(sys.argv[1], 'tree', 'd%02d' % d, 'sub'))
    for f in range(50):
        open(os.path.join(sys.argv[1], 'tree', 'd%02d' % d, 'sub' if f % 2 else '', 'f%02d' % f), 'w').close()`,
        mnt,
      ]);
      assert.equal(made.status, 0, made.stderr);
      const entries = Number(sh('find tree | wc -l', { cwd: mnt }).trim());
      assert.equal(entries, 1 + 20 * (2 + 50), 'the tree: itself, 20 dirs with a sub each, 50 files per dir');
      sh(`mkdir in out && for i in $(seq 0 15); do cp ${src}/r$i in/r$i; done`, { cwd: mnt });

      await shAsync(
        `for i in $(seq 0 15); do
           dd if=${src}/w$i of=out/w$i bs=256k status=none &
           dd if=in/r$i bs=128k status=none | sha256sum > ${src}/read$i &
         done
         for k in 1 2 3 4 5; do find tree | wc -l; done > ${src}/finds &
         wait`,
        { cwd: mnt },
      );
      assert.deepEqual(
        readFileSync(join(src, 'finds'), 'utf8').trim().split('\n').map(Number),
        Array(5).fill(entries),
        'every walk saw the whole tree',
      );
      for (let i = 0; i < 16; i++) {
        assert.equal(sha256(readFileSync(join(mnt, `out/w${i}`))), want(`w${i}`), `written file ${i}`);
        assert.equal(readFileSync(join(src, `read${i}`), 'utf8').split(' ')[0], want(`r${i}`), `read file ${i}`);
      }
      assert.ok(existsSync(join(mnt, 'tree/d19/sub/f49')));
    });
  });
});

// A read the backing file's page cache cannot serve runs off the main thread
// while other reads wait (see PassthroughFs.read), and one it serves only in
// part is finished there: those paths must put every byte where the caller asked.
test('parallel reads of a backing file only partly in the page cache get the right bytes', async () => {
  await withTempDir('conc-cold', async (src) => {
    await withMount(['--backend', `passthrough:${src}`, '--cache', 'direct'], async (mnt, d) => {
      const poolBefore = poolReads(d.child.pid!);
      const r = run('python3', [
        '-c',
        `import os, random, sys, threading
src, mnt = sys.argv[1], sys.argv[2]
data = os.urandom(16 * 1024 * 1024 + 12345)
with open(os.path.join(src, 'f'), 'wb') as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
fd = os.open(os.path.join(src, 'f'), os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead around the blocks read next
for off in range(0, len(data), 192 * 1024):  # every third 64 KiB block back in the cache
    os.pread(fd, 64 * 1024, off)
os.close(fd)
bad = []
def reader(seed):
    rnd = random.Random(seed)
    fd = os.open(os.path.join(mnt, 'f'), os.O_RDONLY)
    for _ in range(150):
        off = rnd.randrange(len(data) - 1000) if rnd.random() < 0.9 else len(data) - rnd.randrange(1, 70000)
        n = rnd.randrange(1, 300 * 1024)
        got = os.pread(fd, n, off)
        if got != data[off:off + n]:
            bad.append((seed, off, n, len(got)))
    os.close(fd)
threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len(bad), bad[:3])`,
        src,
        mnt,
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '0 []', 'reads that came back wrong: (thread, offset, length, bytes returned)');
      // Nothing else in the daemon reads on the pool: had every miss blocked the main thread, this stays put.
      assert.ok(poolReads(d.child.pid!) > poolBefore, 'some reads that missed the cache were done on the libuv pool');
    });
  });
});

/** read(2)-family calls made so far by the libuv pool's threads of process `pid` (/proc task io). */
function poolReads(pid: number): number {
  let calls = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== 'libuv-worker') continue;
    calls += Number(/^syscr:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/io`, 'utf8'))?.[1] ?? 0);
  }
  return calls;
}

// An fsync runs on the request thread when nothing else waits and little is left to write, else on
// the libuv pool (PassthroughFs.fsync): small and large syncs, alone and side by side, files and
// directories, must all leave every byte where it was written.
test('fsyncs of small and large writes, alone and from several threads at once, keep every byte', async () => {
  await withTempDir('conc-fsync', async (src) => {
    await withMount(['--backend', `passthrough:${src}`, '--kernel-passthrough', 'off'], async (mnt, d) => {
      const r = run('python3', [
        '-c',
        `import os, sys, threading
mnt = sys.argv[1]
def writer(name, size, rounds):
    fd = os.open(os.path.join(mnt, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(rounds):
        os.pwrite(fd, bytes([65 + i % 26]) * size, i * size)
        (os.fdatasync if i % 2 else os.fsync)(fd)
    os.close(fd)
    dfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
writer('alone', 4096, 50)
writer('alone-large', 3 << 20, 4)
threads = [threading.Thread(target=writer, args=(f't{n}', 4096 if n % 2 else 2 << 20, 30 if n % 2 else 4)) for n in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print('ok')`,
        mnt,
      ]);
      assert.equal(r.status, 0, r.stderr);
      const expect = (size: number, rounds: number): string =>
        sha256(Buffer.concat(Array.from({ length: rounds }, (_, i) => Buffer.alloc(size, 65 + (i % 26)))));
      assert.equal(sha256(readFileSync(join(src, 'alone'))), expect(4096, 50));
      assert.equal(sha256(readFileSync(join(src, 'alone-large'))), expect(3 << 20, 4));
      for (let n = 0; n < 6; n++) {
        const want = n % 2 ? expect(4096, 30) : expect(2 << 20, 4);
        assert.equal(sha256(readFileSync(join(src, `t${n}`))), want, `t${n}`);
      }
      assert.ok(d.child.exitCode === null, 'the daemon is still serving');
    });
  });
});
