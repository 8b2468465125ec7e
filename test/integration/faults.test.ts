// Fault injection through a real mount, seen by applications: errnos, short
// and torn I/O, corruption, a lying statfs, overridden attributes, ENOSPC
// after N bytes, process and path targeting, counted triggers, the injected
// rate over 20,000 ops and the determinism of a seeded schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OP_NAMES } from '../../src/layers/op.ts';
import { withTempDir } from '../helpers/mount.ts';
import { run } from '../helpers/run.ts';
import { binomial999, pyJson, ruleNamed, rules, withConfig } from './layers-support.ts';

test('errno: reads and writes get the configured errno; weighted errnos produce each of them', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [read], paths: [r], errno: EIO }
        - { ops: [write], paths: [w], errno: ENOSPC }
        - { name: weighted, ops: [write], paths: [both], errno: [{ EIO: 1 }, { EDQUOT: 1 }] }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<{ read: string; write: string; other: string; weighted: Record<string, number> }>(
      mnt,
      `
put('r', b'hello')
fd = os.open('r', os.O_RDONLY)
read = outcome(lambda: os.read(fd, 5).decode())
fd = os.open('w', os.O_WRONLY | os.O_CREAT)
write = outcome(lambda: os.write(fd, b'x'))
put('other', b'fine')
other = open('other').read()
fd = os.open('both', os.O_WRONLY | os.O_CREAT)
weighted = {}
for i in range(200):
    k = outcome(lambda: os.write(fd, b'x'))
    weighted[k] = weighted.get(k, 0) + 1
print(json.dumps(dict(read=read, write=write, other=other, weighted=weighted)))
`,
    );
    assert.equal(out.read, 'EIO');
    assert.equal(out.write, 'ENOSPC');
    assert.equal(out.other, 'fine', 'files no rule names are untouched');
    assert.deepEqual(Object.keys(out.weighted).sort(), ['EDQUOT', 'EIO']);
    assert.equal(out.weighted.EIO + out.weighted.EDQUOT, 200);
    assert.equal(ruleNamed(mnt, 'weighted')!.fired, 200);
  });
});

test('errno on flush: close(2) reports it for the files a rule names; the kernel still sends their FLUSH', async () => {
  // Files on a local backing filesystem are opened FOPEN_NOFLUSH, unless a rule could act on their flush.
  const yaml = `
layers:
  - fault:
      rules:
        - { name: closing, ops: [flush], paths: [f], errno: EIO }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<{ f: string; g: string }>(
      mnt,
      `
def close_after_write(name):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT)
    os.write(fd, b'x')
    return outcome(lambda: os.close(fd) or 'ok')
print(json.dumps(dict(f=close_after_write('f'), g=close_after_write('g'))))
`,
    );
    assert.deepEqual(out, { f: 'EIO', g: 'ok' });
    assert.equal(ruleNamed(mnt, 'closing')!.fired, 1);
  });
});

test('errno on every op: each system call fails with the injected errno, and nothing it would have changed is changed', async () => {
  // One rule per op, each on a name of its own; the setup before each call uses other ops only.
  // Not here: flush has the test above; no system call reports what release and releasedir answer; with
  // default_permissions the kernel answers access(2) itself; Python has no syncfs(2).
  const untested = new Set<string>(['flush', 'release', 'releasedir', 'access', 'syncfs']);
  const OPS = OP_NAMES.filter((op) => !untested.has(op));
  const yaml = `
layers:
  - fault:
      rules:
${OPS.map((op) => `        - { name: ${op}, ops: [${op}], paths: [${op}], errno: EIO }`).join('\n')}
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<{ results: Record<string, string>; left: Record<string, boolean> }>(
      mnt,
      `
r = {}
def on_fd(name, flags, f):
    fd = os.open(name, flags, 0o644)
    try:
        return outcome(lambda: f(fd))
    finally:
        os.close(fd)
r['getattr'] = outcome(lambda: os.stat('getattr') and 'ok')
put('setattr', b'x')
r['setattr'] = outcome(lambda: os.chmod('setattr', 0o600) or 'ok')
os.symlink('target', 'readlink')
r['readlink'] = outcome(lambda: os.readlink('readlink'))
r['mknod'] = outcome(lambda: os.mkfifo('mknod') or 'ok')
r['mkdir'] = outcome(lambda: os.mkdir('mkdir') or 'ok')
r['symlink'] = outcome(lambda: os.symlink('target', 'symlink') or 'ok')
put('unlink', b'x')
r['unlink'] = outcome(lambda: os.unlink('unlink') or 'ok')
os.mkdir('rmdir')
r['rmdir'] = outcome(lambda: os.rmdir('rmdir') or 'ok')
put('rename', b'x')
r['rename'] = outcome(lambda: os.rename('rename', 'renamed') or 'ok')
put('existing', b'x')
r['link'] = outcome(lambda: os.link('existing', 'link') or 'ok')
put('open', b'x')
r['open'] = outcome(lambda: os.close(os.open('open', os.O_RDONLY)) or 'ok')
r['create'] = outcome(lambda: os.close(os.open('create', os.O_WRONLY | os.O_CREAT, 0o644)) or 'ok')
put('read', b'x')
r['read'] = on_fd('read', os.O_RDONLY, lambda fd: os.read(fd, 1) and 'ok')
r['write'] = on_fd('write', os.O_WRONLY | os.O_CREAT, lambda fd: os.write(fd, b'x') and 'ok')
r['fsync'] = on_fd('fsync', os.O_WRONLY | os.O_CREAT, lambda fd: os.fsync(fd) or 'ok')
os.mkdir('statfs')
r['statfs'] = outcome(lambda: os.statvfs('statfs') and 'ok')
put('setxattr', b'x')
r['setxattr'] = outcome(lambda: os.setxattr('setxattr', 'user.a', b'1') or 'ok')
for name in ('getxattr', 'listxattr', 'removexattr'):
    put(name, b'x')
    os.setxattr(name, 'user.a', b'1')
r['getxattr'] = outcome(lambda: os.getxattr('getxattr', 'user.a') and 'ok')
r['listxattr'] = outcome(lambda: os.listxattr('listxattr') and 'ok')
r['removexattr'] = outcome(lambda: os.removexattr('removexattr', 'user.a') or 'ok')
for name in ('opendir', 'readdir', 'fsyncdir'):
    os.mkdir(name)
r['opendir'] = outcome(lambda: os.listdir('opendir') is not None and 'ok')
r['readdir'] = outcome(lambda: os.listdir('readdir') is not None and 'ok')
r['fsyncdir'] = on_fd('fsyncdir', os.O_RDONLY, lambda fd: os.fsync(fd) or 'ok')
r['fallocate'] = on_fd('fallocate', os.O_WRONLY | os.O_CREAT, lambda fd: os.posix_fallocate(fd, 0, 4096) or 'ok')
put('lseek', b'x')
r['lseek'] = on_fd('lseek', os.O_RDONLY, lambda fd: os.lseek(fd, 0, os.SEEK_DATA) is not None and 'ok')
put('copyFileRange', b'x')
to = os.open('copied', os.O_WRONLY | os.O_CREAT, 0o644)
r['copyFileRange'] = on_fd('copyFileRange', os.O_RDONLY, lambda fd: os.copy_file_range(fd, to, 1) is not None and 'ok')
os.close(to)
left = dict(
    setattr=os.stat('setattr').st_mode & 0o777 == 0o644, unlink=os.path.exists('unlink'), rmdir=os.path.isdir('rmdir'),
    rename=os.path.exists('rename') and not os.path.exists('renamed'), link=os.stat('existing').st_nlink == 1,
    write=os.path.getsize('write') == 0, removexattr=os.getxattr('removexattr', 'user.a') == b'1',
    setxattr='user.a' not in os.listxattr('setxattr'), fallocate=os.path.getsize('fallocate') == 0,
    copied=os.path.getsize('copied') == 0,
    absent=[n for n in ('mknod', 'mkdir', 'symlink', 'create', 'link') if os.path.lexists(n)] == [])
print(json.dumps(dict(results=r, left=left)))
`,
    );
    assert.deepEqual(out.results, Object.fromEntries(OPS.map((op) => [op, 'EIO'])));
    assert.deepEqual(
      Object.entries(out.left).filter(([, kept]) => !kept),
      [],
      'a failed call changed nothing',
    );
    const fired = new Map(rules(mnt).map((r) => [r.name, r.fired]));
    assert.deepEqual(
      OPS.filter((op) => !(fired.get(op)! >= 1)),
      [],
      'every rule fired',
    );
  });
});

test('shortRead: a single read returns the configured part (fraction or bytes) of the right data', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [read], paths: [half], action: { shortRead: 0.5 } }
        - { ops: [read], paths: [hundred], action: { shortRead: 100 } }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<Record<string, [number, boolean]>>(
      mnt,
      `
data = bytes(range(256)) * 32
res = {}
for name in ['half', 'hundred', 'plain']:
    put(name, data)
    fd = os.open(name, os.O_RDONLY)
    got = os.read(fd, 8192)
    res[name] = [len(got), got == data[:len(got)]]
print(json.dumps(res))
`,
    );
    assert.deepEqual(out, { half: [4096, true], hundred: [100, true], plain: [8192, true] });
  });
});

test('shortWrite: write(2) reports the part written, and only that part lands', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [write], paths: [quarter], action: { shortWrite: 0.25 } }
        - { ops: [write], paths: [bytes], action: { shortWrite: 10 } }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<Record<string, [number, number, boolean]>>(
      mnt,
      `
data = os.urandom(4096)
res = {}
for name in ['quarter', 'bytes']:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT)
    n = os.write(fd, data)
    os.close(fd)
    back = open(name, 'rb').read()
    res[name] = [n, len(back), back == data[:n]]
print(json.dumps(res))
`,
    );
    assert.deepEqual(out, { quarter: [1024, 1024, true], bytes: [10, 10, true] });
  });
});

test('tornWrite: part of the data lands, then the write fails with the errno', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [write], paths: [torn], action: { tornWrite: { keep: 1000, errno: EIO } } }
        - { ops: [write], paths: [torn2], action: { tornWrite: { keep: 0.5, errno: ENOSPC } } }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<Record<string, [string, number, boolean]>>(
      mnt,
      `
data = os.urandom(4096)
res = {}
for name in ['torn', 'torn2']:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT)
    r = outcome(lambda: os.write(fd, data))
    os.close(fd)
    back = open(name, 'rb').read()
    res[name] = [r, len(back), back == data[:len(back)]]
print(json.dumps(res))
`,
    );
    assert.deepEqual(out, { torn: ['EIO', 1000, true], torn2: ['ENOSPC', 2048, true] });
  });
});

test('a failed writeback of a shared mapping keeps its data: another mmap, which makes the kernel write the page back and drop it, still sees it', async () => {
  // Under cache: direct the kernel drops a file's cached pages at each mmap, writing dirty ones back first.
  const yaml = `
layers:
  - fault:
      rules:
        - { name: eio, ops: [write], paths: [e], errno: EIO }
        - { name: torn, ops: [write], paths: [t], action: { tornWrite: { keep: 1, errno: EIO } } }
        - { name: short, ops: [write], paths: [s], action: { shortWrite: 1 } }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<Record<string, [string, string, string]>>(
      mnt,
      `
import mmap
res = {}
for name in ['e', 't', 's']:
    with open(name, 'wb') as f: f.truncate(4096)
    fd1 = os.open(name, os.O_RDWR)
    m1 = mmap.mmap(fd1, 4096)
    m1[0:3] = b'new'
    fd2 = os.open(name, os.O_RDWR)
    m2 = mmap.mmap(fd2, 4096)
    res[name] = [m2[0:3].decode(), m1[0:3].decode(), outcome(lambda: m1.flush() or 'ok')]
    m1.close(); m2.close(); os.close(fd1); os.close(fd2)
print(json.dumps(res))
`,
    );
    for (const name of ['e', 't', 's']) assert.deepEqual(out[name].slice(0, 2), ['new', 'new'], `${name}: both mappings see the write`);
    // The failure is answered all the same: the kernel reports it at the mapping's next msync.
    for (const name of ['e', 't']) assert.equal(out[name][2], 'EIO', `${name}: msync reports the failed writeback`);
    for (const name of ['eio', 'torn', 'short']) assert.ok((ruleNamed(mnt, name)?.fired ?? 0) > 0, `${name} failed the writeback`);
  });
});

test('corrupt: reads differ in exactly N bytes, one bit each with flip; corrupted writes are stored so', async () => {
  const yaml = `
layers:
  - fault:
      seed: 11
      rules:
        - { ops: [read], paths: [c], action: { corrupt: { mode: flip, bytes: 3 } } }
        - { ops: [write], paths: [cw], action: { corrupt: { mode: flip, bytes: 5 } } }
        - { ops: [read], paths: [z], action: { corrupt: { mode: zero, bytes: 4 } } }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<{ reads: number[][]; written: number[]; zeroed: number[] }>(
      mnt,
      `
data = bytes(range(1, 256)) * 16
def diff(a, b):
    return [x ^ y for x, y in zip(a, b) if x != y]
put('c', data)
fd = os.open('c', os.O_RDONLY)
reads = [diff(os.pread(fd, len(data), 0), data) for i in range(30)]
fd = os.open('cw', os.O_WRONLY | os.O_CREAT)
os.write(fd, data)
os.close(fd)
written = diff(open('cw', 'rb').read(), data)
put('z', data)
fd = os.open('z', os.O_RDONLY)
zeroed = diff(os.pread(fd, len(data), 0), data)
print(json.dumps(dict(reads=reads, written=written, zeroed=zeroed)))
`,
    );
    const oneBit = (x: number): boolean => x !== 0 && (x & (x - 1)) === 0;
    for (const [i, d] of out.reads.entries()) {
      assert.equal(d.length, 3, `read ${i}: ${d.length} bytes differ`);
      assert.ok(d.every(oneBit), `read ${i}: one bit per byte hit, got ${d.map((x) => x.toString(2))}`);
    }
    assert.notDeepEqual(out.reads[0], out.reads[1], 'each read is corrupted afresh');
    assert.equal(out.written.length, 5);
    assert.ok(out.written.every(oneBit));
    assert.equal(out.zeroed.length, 4, 'zero fill (the data has no zero bytes)');
  });
});

test('statfs lie: df and os.statvfs show the configured size and free space', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [statfs], action: { statfs: { size: 10GiB, free: 3GiB, files: 12345 } } }
`;
  await withConfig(yaml, async (mnt) => {
    const st = pyJson<{ size: number; free: number; avail: number; files: number }>(
      mnt,
      `
s = os.statvfs('.')
print(json.dumps(dict(size=s.f_blocks * s.f_frsize, free=s.f_bfree * s.f_frsize, avail=s.f_bavail * s.f_frsize, files=s.f_files)))
`,
    );
    assert.deepEqual(st, { size: 10 * 1024 ** 3, free: 3 * 1024 ** 3, avail: 3 * 1024 ** 3, files: 12345 });
    const df = run('df', ['-B1', '--output=size,avail', mnt]);
    assert.equal(df.status, 0, df.stderr);
    assert.deepEqual(df.stdout.trim().split('\n')[1].trim().split(/\s+/), [String(10 * 1024 ** 3), String(3 * 1024 ** 3)]);
  });
});

test('attr override: stat shows the configured mode, size, owner and mtime', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [getattr], paths: [a], action: { attr: { mode: 0o600, size: 12345, uid: 4321, gid: 1234, mtime: "2001-02-03T04:05:06Z" } } }
`;
  await withConfig(yaml, async (mnt) => {
    run('sh', ['-c', 'echo hi > a && echo hi > b && chmod 644 a b'], { cwd: mnt });
    const stat = (f: string): string => run('stat', ['-c', '%A %s %u %g %Y', f], { cwd: mnt }).stdout.trim();
    assert.equal(stat('a'), `-rw------- 12345 4321 1234 ${Date.parse('2001-02-03T04:05:06Z') / 1000}`);
    assert.match(stat('b'), /^-rw-r--r-- 3 0 0 \d+$/);
  });
});

test('ENOSPC after N bytes: dd fails once 1 MiB has been written, and 1 MiB is in the file', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { name: full, ops: [write], paths: [big], afterBytes: 1MiB, errno: ENOSPC }
`;
  await withConfig(yaml, async (mnt) => {
    const dd = run('dd', ['if=/dev/zero', 'of=big', 'bs=4k', 'count=1000'], { cwd: mnt });
    assert.notEqual(dd.status, 0);
    assert.match(dd.stderr, /No space left on device/);
    // Every write is 4 KiB (cache direct): 256 of them pass, the 257th fails.
    assert.equal(Number(run('stat', ['-c', '%s', 'big'], { cwd: mnt }).stdout.trim()), 1024 * 1024);
    assert.deepEqual(ruleNamed(mnt, 'full'), { layer: 0, kind: 'fault', name: 'full', matched: 257, fired: 1 });
    // Other files still take writes.
    assert.equal(run('dd', ['if=/dev/zero', 'of=small', 'bs=4k', 'count=300'], { cwd: mnt }).status, 0);
  });
});

test('fileSize: a rule for large files hits only those, judged by the size at the time of the op (memory and passthrough)', async () => {
  await withTempDir('filesize', async (backing) => {
    for (const backend of ['{ type: memory }', `{ type: passthrough, path: ${JSON.stringify(backing)} }`]) {
      const yaml = `backend: ${backend}
mount: { cache: direct, attrTimeout: 0, entryTimeout: 0 }
layers:
  - fault:
      rules:
        - { name: big, ops: [read], fileSize: { min: 1MiB }, errno: EIO }
`;
      await withConfig(yaml, async (mnt) => {
        const out = pyJson<Record<string, number | string>>(
          mnt,
          `
put('small', b'x' * 1000)
put('big', b'x' * (2 << 20))
res = {}
for n in ['small', 'big']:
    fd = os.open(n, os.O_RDONLY)
    res[n] = outcome(lambda: len(os.read(fd, 100)))
    os.close(fd)
fd = os.open('grows', os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'x' * 1000)
res['before'] = outcome(lambda: len(os.pread(fd, 100, 0)))
os.pwrite(fd, b'x', (1 << 20) - 1)
res['after'] = outcome(lambda: len(os.pread(fd, 100, 0)))
big = os.open('big', os.O_RDONLY)
os.unlink('big')
res['unlinked'] = outcome(lambda: len(os.read(big, 100)))
print(json.dumps(res))
`,
        );
        // 'grows' reaches exactly 1 MiB (min is inclusive); an unlinked file's size comes from its open handle.
        assert.deepEqual(out, { small: 100, big: 'EIO', before: 100, after: 'EIO', unlinked: 'EIO' }, backend);
        assert.equal(ruleNamed(mnt, 'big')!.fired, 3, backend);
      });
    }
  });
});

test('process matching: a rule for comm python3 hits python but not cat; a rule for a uid hits only that user', async () => {
  const yaml = `${'backend: { type: memory }'}
mount: { cache: direct, attrTimeout: 0, entryTimeout: 0, allowOther: true }
layers:
  - fault:
      rules:
        - { name: py, ops: [read], paths: [f], process: { comm: python3 }, errno: EIO }
        - { name: nobody, ops: [read], paths: [g], process: { uid: 65534 }, errno: EACCES }
`;
  await withConfig(yaml, async (mnt) => {
    run('sh', ['-c', 'echo data > f && echo data > g && chmod 644 f g'], { cwd: mnt });
    assert.equal(
      pyJson<string>(mnt, `fd = os.open('f', os.O_RDONLY)\nprint(json.dumps(outcome(lambda: os.read(fd, 10).decode())))`),
      'EIO',
    );
    const cat = run('cat', ['f'], { cwd: mnt });
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'data\n');
    assert.equal(ruleNamed(mnt, 'py')!.fired, 1);

    const asNobody = run('cat', ['g'], { cwd: mnt, uid: 65534, gid: 65534 });
    assert.notEqual(asNobody.status, 0);
    assert.match(asNobody.stderr, /Permission denied/);
    const asRoot = run('cat', ['g'], { cwd: mnt });
    assert.equal(asRoot.stdout, 'data\n');
    const fNobody = run('cat', ['f'], { cwd: mnt, uid: 65534, gid: 65534 });
    assert.equal(fNobody.stdout, 'data\n', 'the uid rule names only g');
  });
});

test('paths: include and exclude globs pick the files', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { ops: [read], paths: ["logs/**"], exclude: ["**/*.keep"], errno: EIO }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<Record<string, string>>(
      mnt,
      `
for d in ['logs', 'logs/sub', 'other']:
    os.mkdir(d)
names = ['logs/a.txt', 'logs/b.keep', 'logs/sub/c.txt', 'logs/sub/d.keep', 'other/a.txt', 'top.txt']
res = {}
for n in names:
    put(n, b'x')
    fd = os.open(n, os.O_RDONLY)
    res[n] = outcome(lambda: os.read(fd, 1).decode())
print(json.dumps(res))
`,
    );
    assert.deepEqual(out, {
      'logs/a.txt': 'EIO',
      'logs/b.keep': 'x',
      'logs/sub/c.txt': 'EIO',
      'logs/sub/d.keep': 'x',
      'other/a.txt': 'x',
      'top.txt': 'x',
    });
  });
});

test('after, every and times: the pattern of failures, and the counters interposer ctl reports', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { name: after3, ops: [read], paths: [a], after: 3, errno: EIO }
        - { name: every3, ops: [read], paths: [b], every: 3, errno: EIO }
        - { name: times2, ops: [read], paths: [c], times: 2, errno: EIO }
        - { name: after2-every2-times2, ops: [read], paths: [d], after: 2, every: 2, times: 2, errno: EIO }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<Record<string, string>>(
      mnt,
      `
res = {}
for n in ['a', 'b', 'c', 'd']:
    put(n, b'0123456789')
    fd = os.open(n, os.O_RDONLY)
    res[n] = ''.join('1' if outcome(lambda: os.pread(fd, 4, 0)) == 'EIO' else '0' for i in range(9))
print(json.dumps(res))
`,
    );
    assert.deepEqual(out, { a: '000111111', b: '001001001', c: '110000000', d: '000101000' });
    const counters = Object.fromEntries(rules(mnt).map((r) => [r.name, [r.matched, r.fired]]));
    assert.deepEqual(counters, { after3: [9, 6], every3: [9, 3], times2: [9, 2], 'after2-every2-times2': [9, 2] });
  });
});

test('statistics: over 20,000 reads, a probability 0.1 rule fires inside the binomial 99.9% interval', async () => {
  const n = 20_000;
  const p = 0.1;
  const yaml = `
layers:
  - fault:
      seed: 20240601
      rules:
        - { name: p10, ops: [read], paths: [data], probability: ${p}, errno: EIO }
`;
  await withConfig(yaml, async (mnt) => {
    const out = pyJson<{ failed: number; other: number }>(
      mnt,
      `
put('data', os.urandom(4096))
fd = os.open('data', os.O_RDONLY)
failed = other = 0
for i in range(${n}):
    try:
        os.pread(fd, 16, (i * 16) % 4096)
    except OSError as e:
        if e.errno == errno.EIO: failed += 1
        else: other += 1
print(json.dumps(dict(failed=failed, other=other)))
`,
    );
    const [lo, hi] = binomial999(n, p);
    assert.equal(out.other, 0);
    assert.ok(out.failed >= lo && out.failed <= hi, `${out.failed} injected of ${n}: outside [${lo.toFixed(1)}, ${hi.toFixed(1)}]`);
    // Every read reached the rule (cache direct), and the counter agrees with what the app saw.
    assert.deepEqual(ruleNamed(mnt, 'p10'), { layer: 0, kind: 'fault', name: 'p10', matched: n, fired: out.failed });
  });
});

/** The per-read outcomes of a sequential workload under a seeded schedule. */
async function schedule(seed: number): Promise<string[]> {
  const yaml = `
layers:
  - fault:
      seed: ${seed}
      rules:
        - { name: err, ops: [read], paths: [data], probability: 0.05, errno: [{ EIO: 1 }, { EAGAIN: 1 }] }
        - { name: short, ops: [read], paths: [data], probability: 0.05, action: { shortRead: 0.25 } }
        - { name: flip, ops: [read], paths: [data], probability: 0.05, action: { corrupt: { bytes: 1 } } }
`;
  return withConfig(yaml, async (mnt) =>
    pyJson<string[]>(
      mnt,
      `
data = bytes(range(256)) * 16
put('data', data)
fd = os.open('data', os.O_RDONLY)
res = []
for i in range(2000):
    try:
        got = os.pread(fd, 64, 0)
        if len(got) != 64: res.append('short%d' % len(got))
        elif got != data[:64]: res.append('corrupt@%d' % next(j for j in range(64) if got[j] != data[j]))
        else: res.append('ok')
    except OSError as e:
        res.append(errno.errorcode[e.errno])
print(json.dumps(res))
`,
    ),
  );
}

test('determinism: the same seed and workload give the same faults; another seed others', async () => {
  const first = await schedule(42);
  const second = await schedule(42);
  const other = await schedule(43);
  const kinds = new Set(first.map((x) => x.replace(/\d+$/, '')));
  assert.deepEqual([...kinds].sort(), ['EAGAIN', 'EIO', 'corrupt@', 'ok', 'short'], 'every kind of fault occurs');
  assert.deepEqual(second, first);
  assert.notDeepEqual(other, first);
  assert.equal(other.length, first.length);
});
