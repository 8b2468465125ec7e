// A file whose data goes through the daemon keeps its pages in the kernel's
// cache while only the mount changes it: a write through the mount followed by
// a stat keeps them, and so does opening the file again. A change made beside
// the mount (on the backing file) drops them at the next stat or open of the
// file through the mount, and for a file held open once attrTimeout has passed,
// so the new bytes are read. Shared mappings, whose pages the kernel must write
// back through the daemon: under `cache: direct`, and while a truncation waits.
import assert from 'node:assert/strict';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor, withTempDir } from '../helpers/mount.ts';
import { py, sh } from '../helpers/run.ts';
import { ctlJson, ruleNamed, withConfig } from './layers-support.ts';

/**
 * A fault rule that never fires but counts the reads that reach the daemon (and, acting on reads,
 * serves every file through the daemon rather than by kernel passthrough). Attribute timeout 0: every
 * stat asks the daemon, which is where a change beside the mount is noticed.
 */
function withCountedReads(fn: (mnt: string, back: string, readsSoFar: () => number) => Promise<void>): Promise<void> {
  const layer = `  - fault:
      rules:
        - { name: reads, ops: [read], probability: 0, errno: EIO }
`;
  return withFileAndLayer(layer, (mnt, back) => fn(mnt, back, () => ruleNamed(mnt, 'reads')!.matched));
}

/**
 * A passthrough mount of a directory holding `f` (8 KiB of 'a') under `layer` (one item of `layers:`),
 * with attribute timeout 0 unless `mount` (the items of `mount:`) says otherwise.
 */
function withFileAndLayer(layer: string, fn: (mnt: string, back: string) => Promise<void>, mount = 'attrTimeout: 0'): Promise<void> {
  return withTempDir('page-cache', (back) => {
    writeFileSync(join(back, 'f'), 'a'.repeat(8192));
    const config = `backend: { type: passthrough, path: ${JSON.stringify(back)} }
mount: { ${mount}, entryTimeout: 1h }
layers:
${layer}`;
    return withConfig(config, (mnt) => fn(mnt, back));
  });
}

/** The first four bytes of `path`, read through a fresh open. */
const head = (path: string): string =>
  py(`import os\nfd = os.open(${JSON.stringify(path)}, os.O_RDONLY)\nprint(os.pread(fd, 4, 0).decode())`);

/** Overwrites the first four bytes of `path` in place. */
const overwrite = (path: string, bytes: string): void => {
  py(`import os\nfd = os.open(${JSON.stringify(path)}, os.O_WRONLY)\nos.pwrite(fd, b'${bytes}', 0)`);
};

test('cached pages outlast a write and a stat through the mount, and opening the file again', async () => {
  await withCountedReads(async (mnt, _back, readsSoFar) => {
    const f = join(mnt, 'f');
    assert.equal(head(f), 'aaaa');
    const afterFirst = readsSoFar();
    assert.ok(afterFirst > 0, 'the first read reached the daemon');
    assert.equal(head(f), 'aaaa');
    assert.equal(readsSoFar(), afterFirst, 'opened again, unchanged: served from the kept pages');
    py(`import os\nfd = os.open(${JSON.stringify(f)}, os.O_RDWR)\nos.pwrite(fd, b'bbbb', 4096)\nos.fstat(fd)`);
    assert.equal(head(f), 'aaaa');
    assert.equal(readsSoFar(), afterFirst, 'a write through the mount, a stat and an open after it kept the pages');
    assert.equal(py(`print(open(${JSON.stringify(f)}, 'rb').read()[4096:4100].decode())`), 'bbbb');
  });
});

test('a change beside the mount is read after the next open of the file', async () => {
  await withCountedReads(async (mnt, back, readsSoFar) => {
    const f = join(mnt, 'f');
    assert.equal(head(f), 'aaaa');
    const before = readsSoFar();
    overwrite(join(back, 'f'), 'XXXX');
    assert.equal(head(f), 'XXXX');
    assert.ok(readsSoFar() > before, 'the new bytes came from the daemon');
  });
});

test('a change beside the mount is read after the next stat of a file held open', async () => {
  await withCountedReads(async (mnt, back) => {
    const out = py(`import os
fd = os.open(${JSON.stringify(join(mnt, 'f'))}, os.O_RDONLY)
first = os.pread(fd, 4, 0)
w = os.open(${JSON.stringify(join(back, 'f'))}, os.O_WRONLY)
os.pwrite(w, b'YYYY', 0)
os.close(w)
os.fstat(fd)
print(first.decode(), os.pread(fd, 4, 0).decode())`);
    assert.equal(out, 'aaaa YYYY');
  });
});

test('a change beside the mount reaches a reader that holds the file open and never stats it', async () => {
  await withCountedReads(async (mnt, back) => {
    // The daemon looks at open files every attrTimeout (here its floor, 100 ms) from its side.
    const out = py(`import os, time
fd = os.open(${JSON.stringify(join(mnt, 'f'))}, os.O_RDONLY)
first = os.pread(fd, 4, 0)
w = os.open(${JSON.stringify(join(back, 'f'))}, os.O_WRONLY)
os.pwrite(w, b'ZZZZ', 0)
os.close(w)
deadline = time.time() + 30
while os.pread(fd, 4, 0) != b'ZZZZ' and time.time() < deadline:
    time.sleep(0.05)
print(first.decode(), os.pread(fd, 4, 0).decode())`);
    assert.equal(out, 'aaaa ZZZZ');
  });
});

test('after an open with kernel passthrough, a change beside the mount is read anew through the cache', async () => {
  await withCountedReads(async (mnt, back, readsSoFar) => {
    const f = join(mnt, 'f');
    assert.equal(head(f), 'aaaa', 'read through the daemon: the kernel caches its pages');
    ctlJson('rm-rule', mnt, 'reads');
    assert.equal(head(f), 'aaaa', 'opened with kernel passthrough: no rule needs its reads');
    overwrite(join(back, 'f'), 'PPPP');
    ctlJson('add-rule', mnt, 'fault', '{name: reads, ops: [read], probability: 0, errno: EIO}');
    // The bridge stops judging a file once it is passed through, counting on that open having made
    // the kernel drop the pages cached before it.
    assert.equal(head(f), 'PPPP');
    assert.ok(readsSoFar() > 0, 'the new bytes came from the daemon');
  });
});

test('pages dropped while reads of the same files are in flight: every reader finishes, and sees the last change', async () => {
  await withCountedReads(async (mnt, back) => {
    // Readahead holds page locks until the daemon answers its READs, and dropping a page waits for its
    // lock: the drops (asked for by one reader's stats and by the daemon's own looks) must never keep
    // the daemon from reading the READs of the other reader of the same file.
    const out = py(`import os, threading, time
mnt, back = ${JSON.stringify(mnt)}, ${JSON.stringify(back)}
names = ['g%d' % i for i in range(4)]
for n in names:
    with open(os.path.join(back, n), 'wb') as f: f.write(b'x' * (4 << 20))
done = threading.Event()
def reader(n, stats):
    fd = os.open(os.path.join(mnt, n), os.O_RDONLY)
    while not done.is_set():
        off = 0
        while True:
            got = os.pread(fd, 1 << 17, off)
            if not got: break
            off += len(got)
            if stats: os.fstat(fd)
    os.close(fd)
def changer():
    for k in range(20):
        for n in names:
            fd = os.open(os.path.join(back, n), os.O_WRONLY)
            os.pwrite(fd, b'%02d' % k, (k * 65536) % (4 << 20))
            os.close(fd)
        time.sleep(0.02)
    done.set()
threads = [threading.Thread(target=reader, args=(n, s)) for n in names for s in (False, True)] + [threading.Thread(target=changer)]
for t in threads: t.start()
for t in threads: t.join()
last = []
for n in names:
    fd = os.open(os.path.join(mnt, n), os.O_RDONLY)
    last.append(os.pread(fd, 2, 19 * 65536).decode())
    os.close(fd)
print(' '.join(last))`);
    assert.equal(out, '19 19 19 19');
  });
});

test('a change the daemon noticed on its own is never read stale, while the page drop it asked for waits on a read', async () => {
  // Every read of f waits a second in the daemon, holding the lock of the page it fills: a drop of
  // f's pages, which takes them in order, waits that long at that page before it reaches the ones
  // after it. Attribute timeout 0: the daemon looks at open files every 100 ms.
  const slowReads = `  - latency:
      rules:
        - { name: slow-reads, ops: [read], paths: [f], delay: 1s }
`;
  await withFileAndLayer(slowReads, async (mnt, back) => {
    const out = py(`import os, threading, time
f, back = ${JSON.stringify(join(mnt, 'f'))}, ${JSON.stringify(join(back, 'f'))}
a = os.open(f, os.O_RDONLY)
os.posix_fadvise(a, 0, 0, os.POSIX_FADV_RANDOM)
assert os.pread(a, 4, 4096) == b'aaaa'  # page 1 cached
first = threading.Thread(target=lambda: os.pread(a, 4, 0))  # page 0 locked while its read waits
first.start()
time.sleep(0.1)
fd = os.open(back, os.O_WRONLY)
os.pwrite(fd, b'PPPP', 4096)
os.close(fd)
time.sleep(0.4)  # the daemon's look at the open file has seen the change; its drop waits at page 0
b = os.open(f, os.O_RDONLY)
os.posix_fadvise(b, 0, 0, os.POSIX_FADV_RANDOM)
print(os.pread(b, 4, 4096).decode())
first.join()`);
    assert.equal(out, 'PPPP');
  });
});

test('an open that asks no attributes first keeps no stale page while the drop of its file waits its turn', async () => {
  // Attribute timeout 1h: opening f again sends the daemon a bare OPEN (kernel passthrough off: f's
  // reads go through the daemon too). The kernel forgets a file's attributes when it starts to drop
  // its pages, so that OPEN can only come before f's drop starts: drops go one file at a time, and
  // here f's waits behind one of h's, which waits at h's page 0 while a slow read holds it. Each
  // change is noticed by a LOOKUP of a hard link (one node with the file it links to).
  const slowReads = `  - latency:
      rules:
        - { name: slow-reads, ops: [read], paths: [h], delay: 2s }
`;
  await withFileAndLayer(
    slowReads,
    async (mnt, back) => {
      const out = py(`import os, shutil, threading, time
mnt, back = ${JSON.stringify(mnt)}, ${JSON.stringify(back)}
shutil.copy(os.path.join(back, 'f'), os.path.join(back, 'h'))
os.link(os.path.join(back, 'f'), os.path.join(back, 'g'))
os.link(os.path.join(back, 'h'), os.path.join(back, 'k'))
def cached(name):
    fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    assert os.pread(fd, 4, 4096) == b'aaaa'  # page 1 cached
    return fd
def change_and_look(name, link):
    fd = os.open(os.path.join(back, name), os.O_WRONLY)
    os.pwrite(fd, b'PPPP', 4096)
    os.close(fd)
    look = threading.Thread(target=lambda: os.stat(os.path.join(mnt, link)))  # replies once the drop is done
    look.start()
    time.sleep(0.2)
    return look
f, h = cached('f'), cached('h')
holder = threading.Thread(target=lambda: os.pread(h, 4, 0))  # page 0 of h locked while its read waits
holder.start()
time.sleep(0.1)
looks = [change_and_look('h', 'k'), change_and_look('f', 'g')]
b = os.open(os.path.join(mnt, 'f'), os.O_RDONLY)
os.posix_fadvise(b, 0, 0, os.POSIX_FADV_RANDOM)
print(os.pread(b, 4, 4096).decode())
for t in [holder] + looks: t.join()`);
      assert.equal(out, 'PPPP');
    },
    'attrTimeout: 1h, kernelPassthrough: off',
  );
});

test('cache: direct: a shared mapping works, its stores reach the daemon as writes, and it sees writes made through the mount', async () => {
  await withTempDir('mmap-direct', async (back) => {
    writeFileSync(join(back, 'f'), Buffer.alloc(8192));
    const config = `backend: { type: passthrough, path: ${JSON.stringify(back)} }
mount: { cache: direct }
layers:
  - fault:
      rules:
        - { name: writes, ops: [write], probability: 0, errno: EIO }
`;
    await withConfig(config, async (mnt) => {
      const out = py(`import mmap, os
fd = os.open(${JSON.stringify(join(mnt, 'f'))}, os.O_RDWR)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
m[0:5] = b'MAPPD'
m.flush()
os.pwrite(fd, b'WRITE', 4096)
print(m[4096:4101].decode())
m.close()
os.close(fd)`);
      assert.equal(out, 'WRITE', 'the mapping sees a direct write through the mount');
      assert.ok(ruleNamed(mnt, 'writes')!.matched >= 2, 'the mapping’s store and the write both reached the daemon');
    });
    const onDisk = readFileSync(join(back, 'f'));
    assert.equal(onDisk.subarray(0, 5).toString(), 'MAPPD');
    assert.equal(onDisk.subarray(4096, 4101).toString(), 'WRITE');
  });
});

test('a truncation while a shared mapping holds a dirty page, and a stat answered meanwhile, finishes', async () => {
  await withTempDir('truncate-mmap', async (back) => {
    // The stat takes the mark the truncation left for its own change of ctime, so the truncation's
    // reply finds the ctime moved and drops the file's pages; dropping the dirty page writes it back,
    // and the kernel holds that write until the truncation is answered. The reply must not wait.
    const config = `backend: { type: passthrough, path: ${JSON.stringify(back)} }
mount: { attrTimeout: 0, kernelPassthrough: off }
layers:
  - latency: { rules: [{ ops: [setattr], distribution: { fixed: 300ms } }] }
`;
    await withConfig(config, async (mnt) => {
      const out = py(
        `import mmap, os, threading, time
f = ${JSON.stringify(join(mnt, 'f'))}
with open(f, 'wb') as w: w.write(b'a' * 8192)
fd = os.open(f, os.O_RDWR)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
m[0:1] = b'x'
t = threading.Thread(target=lambda: os.ftruncate(fd, 4096), daemon=True)
t.start()
time.sleep(0.1)
os.stat(f)
t.join(20)
if t.is_alive():
    print('the truncation never finished', flush=True)
    os._exit(1)
m.close()
os.close(fd)
print(os.stat(f).st_size, open(f, 'rb').read(1).decode())`,
      );
      assert.equal(out, '4096 x');
    });
    assert.equal(readFileSync(join(back, 'f')).length, 4096);
  });
});

test("with kernel passthrough, stores through a shared mapping show in the file's modification time once its writer closed it", async () => {
  // As xfstests generic/080 and 215 check. The stores reach the backing file alone; the kernel kept
  // the times it had (here for an hour) until the daemon, at RELEASE, has it ask again.
  await withTempDir('mmap-times', (back) => {
    writeFileSync(join(back, 'f'), 'a'.repeat(8192));
    const config = `backend: { type: passthrough, path: ${JSON.stringify(back)} }
mount: { attrTimeout: 1h, entryTimeout: 1h, kernelPassthrough: on }
layers: []
`;
    return withConfig(config, async (mnt) => {
      const f = join(mnt, 'f');
      const old = 946684800; // 2000-01-01
      utimesSync(f, old, old);
      // Asked as stat(1) asks for %Y: the modification time alone (statx's mask), which a mapping's
      // stale access time does not make the kernel fetch again.
      const mtime = (): number => Number(sh(`stat -c %Y ${f}`));
      assert.equal(mtime(), old);
      py(`import mmap, os
fd = os.open(${JSON.stringify(f)}, os.O_RDWR)
m = mmap.mmap(fd, 4096)
m[0:4] = b'ZZZZ'
m.close()
os.close(fd)`);
      // The writer's RELEASE was queued as it exited; the daemon has the kernel drop the times it kept
      // once no request waits on it. Without that, they would stay for the hour.
      await waitFor(() => mtime() > old, 10_000, 'the new modification time');
      assert.equal(readFileSync(join(back, 'f'), 'latin1').slice(0, 4), 'ZZZZ');
    });
  });
});
