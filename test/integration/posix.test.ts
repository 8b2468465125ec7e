// POSIX behaviour of the passthrough and memory backends, seen from outside a
// real mount with ordinary tools, Python (for the syscalls the shell lacks)
// and Node's fs. One table of cases runs against one mount per backend; each
// case works in its own directory. Mounts use --allow-other because some cases
// act as uid 65534. Node's synchronous fs is fine here: the daemon is a child
// process, never this one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { startDaemon, stopDaemon, tempDir, type Daemon } from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';
import { exec, shAsync, start, stopChild, waitForLine, type Child } from '../fixtures/children.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const NOBODY = 65534;
const SLEEP = '/usr/bin/sleep';
const MEMORY_SIZE = 2 * GiB;
process.umask(0o022); // modes below assume it

interface Where {
  kind: 'passthrough' | 'memory';
  /** This case's directory in the mount. */
  dir: string;
  /** The same directory in the backing tree (passthrough only). */
  back: string | undefined;
  mnt: string;
  backing: string | undefined;
}

/** Runs a Python snippet with `args` as sys.argv[1:]; returns stdout, throws on failure. */
function py(code: string, ...args: string[]): string {
  const r = run('python3', ['-c', code, ...args]);
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** Runs a shell script as uid/gid 65534 with no supplementary groups. */
function asNobody(script: string, cwd?: string) {
  return run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'sh', '-c', script], { cwd });
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

// renameat2(2) by syscall number (x86-64: 316), printing the errno name or OK.
const RENAMEAT2 = `
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = {'noreplace': 1, 'exchange': 2}[sys.argv[3]]
r = libc.syscall(316, -100, sys.argv[1].encode(), -100, sys.argv[2].encode(), flags)
print('OK' if r == 0 else errno.errorcode[ctypes.get_errno()])
`;

// The utimes cases set these times to the nanosecond: UTIME_NS sets them on
// sys.argv[1] and prints st_atime_ns and st_mtime_ns as stat reads them back.
const ATIME_NS = 1000000000123456789n;
const MTIME_NS = 1700000000987654321n;
const UTIME_NS = `
import os, sys
os.utime(sys.argv[1], ns=(${ATIME_NS}, ${MTIME_NS}))
s = os.stat(sys.argv[1])
print(s.st_atime_ns, s.st_mtime_ns)
`;

/** A name, the check, and for a known bug the reason it is marked todo. */
type Case = [name: string, fn: (w: Where) => void | Promise<void>, todo?: string];

const cases: Case[] = [
  [
    'create, write, read and stat a file',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, 'hello, world\n');
      assert.equal(readFileSync(f, 'utf8'), 'hello, world\n');
      const st = statSync(f);
      assert.ok(st.isFile());
      assert.equal(st.size, 13);
      assert.equal(st.uid, 0);
      assert.equal(sh('stat -c "%s %F" f', { cwd: w.dir }), '13 regular file\n');
      // Overwrite in the middle and write past the end: the gap reads as zeros.
      py('import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY)\nos.pwrite(fd, b"HELLO", 0)\nos.pwrite(fd, b"!", 20)', f);
      assert.deepEqual(readFileSync(f), Buffer.concat([Buffer.from('HELLO, world\n'), Buffer.alloc(7), Buffer.from('!')]));
      if (w.back) assert.deepEqual(readFileSync(join(w.back, 'f')), readFileSync(f), 'the data is in the backing directory');
    },
  ],
  [
    'O_APPEND writes always land at the end, even from two descriptors',
    (w) => {
      const f = join(w.dir, 'log');
      sh('echo one >> log && echo two >> log', { cwd: w.dir });
      assert.equal(readFileSync(f, 'utf8'), 'one\ntwo\n');
      py(
        `import os, sys
a = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
b = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(50):
    os.write(a, b'a%02d\\n' % i)
    os.write(b, b'b%02d\\n' % i)
os.pwrite(a, b'END\\n', 0)  # pwrite with O_APPEND appends too (Linux)`,
        f,
      );
      const want = [
        'one',
        'two',
        ...Array.from({ length: 50 }, (_, i) => [`a${String(i).padStart(2, '0')}`, `b${String(i).padStart(2, '0')}`]).flat(),
        'END',
      ];
      assert.deepEqual(readFileSync(f, 'utf8').trimEnd().split('\n'), want);
    },
  ],
  [
    'O_TRUNC empties a file on open',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, 'a long first version\n');
      writeFileSync(f, 'short\n'); // open(O_WRONLY|O_CREAT|O_TRUNC)
      assert.equal(readFileSync(f, 'utf8'), 'short\n');
      py('import os, sys\nos.close(os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC))', f);
      assert.equal(statSync(f).size, 0);
      assert.equal(readFileSync(f, 'utf8'), '');
      sh('echo again > f && : > f', { cwd: w.dir });
      assert.equal(statSync(f).size, 0);
    },
  ],
  [
    'a running program refuses opens that would change it, and keeps its content',
    async (w) => {
      const prog = join(w.dir, 'prog');
      copyFileSync(SLEEP, prog);
      chmodSync(prog, 0o755);
      const before = sha256(prog);
      // Node's spawn returns once exec has succeeded: from then on the kernel denies writers.
      const running = start(prog, ['60']);
      try {
        for (const [flags, how] of [
          [constants.O_WRONLY, 'O_WRONLY'],
          [constants.O_RDWR, 'O_RDWR'],
          // Checked by the kernel only after the filesystem's OPEN: the file must not be emptied first.
          [constants.O_RDONLY | constants.O_TRUNC, 'O_RDONLY|O_TRUNC'],
        ] as const) {
          assert.throws(() => openSync(prog, flags), { code: 'ETXTBSY' }, how);
        }
        assert.equal(sha256(prog), before, 'the program file is unchanged');
        assert.equal(running.proc.exitCode, null, 'the program still runs');
      } finally {
        await stopChild(running);
      }
      // Once it has ended, truncating opens work again.
      closeSync(openSync(prog, constants.O_RDONLY | constants.O_TRUNC));
      assert.equal(statSync(prog).size, 0);
    },
  ],
  [
    'truncate grows with zeros and shrinks to a prefix',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, 'abcdef');
      truncateSync(f, 100_000);
      assert.equal(statSync(f).size, 100_000);
      const grown = readFileSync(f);
      assert.equal(grown.subarray(0, 6).toString(), 'abcdef');
      assert.ok(
        grown.subarray(6).every((b) => b === 0),
        'the grown part reads as zeros',
      );
      truncateSync(f, 3);
      assert.equal(readFileSync(f, 'utf8'), 'abc');
      // Shrinking and growing again must not bring back the old bytes.
      truncateSync(f, 6);
      assert.deepEqual(readFileSync(f), Buffer.from('abc\0\0\0', 'latin1'));
      sh('truncate -s 1M f', { cwd: w.dir });
      assert.equal(statSync(f).size, MiB);
      // ftruncate on an open descriptor.
      py('import os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\nos.ftruncate(fd, 2)\nassert os.fstat(fd).st_size == 2', f);
      assert.equal(readFileSync(f, 'utf8'), 'ab');
    },
  ],
  [
    'chmod, chown and chgrp',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, 'x');
      chmodSync(f, 0o640);
      assert.equal(statSync(f).mode & 0o7777, 0o640);
      sh('chmod u+s,g+s,o+t f', { cwd: w.dir });
      assert.equal(sh('stat -c %a f', { cwd: w.dir }), '7640\n');
      sh('chown 1234:5678 f', { cwd: w.dir });
      assert.equal(sh('stat -c %u:%g f', { cwd: w.dir }), '1234:5678\n');
      sh('chgrp 42 f', { cwd: w.dir });
      assert.equal(statSync(f).gid, 42);
      mkdirSync(join(w.dir, 'd'));
      sh('chmod 700 d && chown 7:8 d', { cwd: w.dir });
      assert.equal(sh('stat -c "%a %u %g" d', { cwd: w.dir }), '700 7 8\n');
      if (w.back) {
        const b = statSync(join(w.back, 'f'));
        assert.equal(b.uid, 1234);
        assert.equal(b.gid, 42);
      }
    },
  ],
  [
    'utimes: explicit times, and touch sets them to now (UTIME_NOW)',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, 'x');
      utimesSync(f, new Date('2001-02-03T04:05:06Z'), new Date('2002-03-04T05:06:07Z'));
      assert.equal(statSync(f).atime.toISOString(), '2001-02-03T04:05:06.000Z');
      assert.equal(statSync(f).mtime.toISOString(), '2002-03-04T05:06:07.000Z');
      sh('touch -m -d "2003-04-05 06:07:08.250 UTC" f', { cwd: w.dir });
      assert.equal(statSync(f).mtime.toISOString(), '2003-04-05T06:07:08.250Z');
      assert.equal(statSync(f).atime.toISOString(), '2001-02-03T04:05:06.000Z', 'touch -m leaves atime alone');
      // The kernel's UTIME_NOW clock is coarse; allow a second either side.
      const before = Date.now() - 1000;
      sh('touch f', { cwd: w.dir });
      const after = Date.now() + 1000;
      const st = statSync(f);
      assert.ok(st.mtimeMs >= before && st.mtimeMs <= after, `mtime ${st.mtime.toISOString()} is now`);
      assert.ok(st.atimeMs >= before && st.atimeMs <= after, `atime ${st.atime.toISOString()} is now`);
      // touch on a name that does not exist creates it.
      sh('touch new', { cwd: w.dir });
      assert.equal(statSync(join(w.dir, 'new')).size, 0);
      if (w.back) assert.ok(statSync(join(w.back, 'f')).mtimeMs >= before);
    },
  ],
  [
    'utimes: explicit nanosecond times survive to within a microsecond',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, 'x');
      const [a, m] = py(UTIME_NS, f).split(' ').map(BigInt);
      const near = (got: bigint, want: bigint) => (got > want ? got - want : want - got) < 1000n;
      assert.ok(near(a, ATIME_NS), `atime ${a}`);
      assert.ok(near(m, MTIME_NS), `mtime ${m}`);
    },
  ],
  [
    'utimes: explicit nanosecond times survive exactly',
    (w) => {
      // Times are float milliseconds in Attr (~244 ns resolution today); the exact
      // nanoseconds ride along as hints (src/vfs/time.ts), or rsync would see a change.
      const f = join(w.dir, 'f');
      writeFileSync(f, 'x');
      assert.equal(py(UTIME_NS, f), `${ATIME_NS} ${MTIME_NS}`);
    },
  ],
  [
    'mkdir, readdir and rmdir',
    (w) => {
      const d = join(w.dir, 'd');
      mkdirSync(d);
      for (const n of ['b', 'a', 'c']) writeFileSync(join(d, n), n);
      mkdirSync(join(d, 'sub'));
      assert.deepEqual(readdirSync(d).sort(), ['a', 'b', 'c', 'sub']);
      const types = Object.fromEntries(readdirSync(d, { withFileTypes: true }).map((e) => [e.name, e.isDirectory() ? 'dir' : 'file']));
      assert.deepEqual(types, { a: 'file', b: 'file', c: 'file', sub: 'dir' });
      assert.equal(statSync(d).nlink, 3, 'a directory with one subdirectory has 3 links');
      assert.throws(() => rmdirSync(d), { code: 'ENOTEMPTY' });
      assert.throws(() => mkdirSync(join(d, 'a')), { code: 'EEXIST' });
      assert.throws(() => rmdirSync(join(d, 'a')), { code: 'ENOTDIR' });
      rmdirSync(join(d, 'sub'));
      for (const n of ['a', 'b', 'c']) unlinkSync(join(d, n));
      assert.deepEqual(readdirSync(d), []);
      rmdirSync(d);
      assert.equal(existsSync(d), false);
      sh('mkdir -p x/y/z && rmdir -p x/y/z', { cwd: w.dir });
      assert.deepEqual(readdirSync(w.dir), []);
    },
  ],
  [
    'ls -la lists . and ..',
    (w) => {
      writeFileSync(join(w.dir, 'f'), '');
      const names = sh('ls -la', { cwd: w.dir })
        .trim()
        .split('\n')
        .slice(1) // "total N"
        .map((l) => l.split(/\s+/).slice(8).join(' '));
      assert.deepEqual(names.sort(), ['.', '..', 'f']);
      assert.deepEqual(sh('ls -a', { cwd: w.mnt }).split('\n').slice(0, 2), ['.', '..']);
    },
  ],
  [
    'rename: files, directories, and over a file another process holds open',
    async (w) => {
      const p = (n: string) => join(w.dir, n);
      writeFileSync(p('a'), 'A');
      renameSync(p('a'), p('b'));
      assert.equal(existsSync(p('a')), false);
      assert.equal(readFileSync(p('b'), 'utf8'), 'A');
      mkdirSync(p('d1'));
      writeFileSync(p('d1/child'), 'child');
      renameSync(p('d1'), p('d2'));
      assert.equal(readFileSync(p('d2/child'), 'utf8'), 'child', 'children follow their directory');
      renameSync(p('b'), p('d2/b'));
      assert.deepEqual(readdirSync(p('d2')).sort(), ['b', 'child']);
      mkdirSync(p('full'));
      writeFileSync(p('full/x'), '');
      mkdirSync(p('empty'));
      assert.throws(() => renameSync(p('empty'), p('full')), { code: 'ENOTEMPTY' });
      renameSync(p('full'), p('empty')); // over an empty directory
      assert.deepEqual(readdirSync(p('empty')), ['x']);

      writeFileSync(p('target'), 'old content\n');
      writeFileSync(p('replacement'), 'new content\n');
      let holder: Child | undefined;
      try {
        holder = start('sh', ['-c', 'exec 3<target; echo ready; read go; cat <&3'], { cwd: w.dir });
        await waitForLine(holder, 'ready');
        renameSync(p('replacement'), p('target'));
        holder.proc.stdin!.end('go\n');
        const r = await holder.done;
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, 'ready\nold content\n', 'the holder still reads the old file');
      } finally {
        await stopChild(holder);
      }
      assert.equal(readFileSync(p('target'), 'utf8'), 'new content\n');
      assert.equal(existsSync(p('replacement')), false);
      if (w.back) assert.equal(readFileSync(join(w.back, 'target'), 'utf8'), 'new content\n');
    },
  ],
  [
    'renameat2: RENAME_NOREPLACE refuses to replace, RENAME_EXCHANGE swaps',
    (w) => {
      const p = (n: string) => join(w.dir, n);
      writeFileSync(p('x'), 'X');
      writeFileSync(p('y'), 'Y');
      assert.equal(py(RENAMEAT2, p('x'), p('y'), 'noreplace'), 'EEXIST');
      assert.equal(readFileSync(p('x'), 'utf8'), 'X');
      assert.equal(readFileSync(p('y'), 'utf8'), 'Y');
      assert.equal(py(RENAMEAT2, p('x'), p('z'), 'noreplace'), 'OK');
      assert.equal(readFileSync(p('z'), 'utf8'), 'X');
      assert.equal(py(RENAMEAT2, p('z'), p('y'), 'exchange'), 'OK');
      assert.equal(readFileSync(p('z'), 'utf8'), 'Y');
      assert.equal(readFileSync(p('y'), 'utf8'), 'X');
      // A file and a directory trade places.
      mkdirSync(p('d'));
      writeFileSync(p('d/inner'), 'inner');
      assert.equal(py(RENAMEAT2, p('y'), p('d'), 'exchange'), 'OK');
      assert.ok(statSync(p('y')).isDirectory());
      assert.equal(readFileSync(p('y/inner'), 'utf8'), 'inner');
      assert.equal(readFileSync(p('d'), 'utf8'), 'X');
      assert.equal(py(RENAMEAT2, p('d'), p('missing'), 'exchange'), 'ENOENT');
      if (w.back) {
        assert.ok(statSync(join(w.back, 'y')).isDirectory());
        assert.equal(readFileSync(join(w.back, 'd'), 'utf8'), 'X');
      }
    },
  ],
  [
    'hard links share one inode',
    (w) => {
      const a = join(w.dir, 'a');
      const b = join(w.dir, 'b');
      writeFileSync(a, 'one');
      linkSync(a, b);
      const sa = statSync(a);
      const sb = statSync(b);
      assert.equal(sa.ino, sb.ino);
      assert.equal(sa.nlink, 2);
      assert.equal(sb.nlink, 2);
      assert.equal(sh('stat -c "%i %h" a b', { cwd: w.dir }), `${sa.ino} 2\n${sa.ino} 2\n`);
      appendFileSync(b, '+two');
      assert.equal(readFileSync(a, 'utf8'), 'one+two', 'a write through one name shows through the other');
      if (w.back) {
        const ba = statSync(join(w.back, 'a'));
        assert.equal(ba.ino, statSync(join(w.back, 'b')).ino);
        assert.equal(ba.nlink, 2);
      }
      unlinkSync(a);
      assert.equal(statSync(b).nlink, 1);
      assert.equal(readFileSync(b, 'utf8'), 'one+two');
      assert.throws(() => linkSync(w.dir, join(w.dir, 'dirlink')), { code: 'EPERM' });
    },
  ],
  [
    'symlinks and readlink',
    (w) => {
      const p = (n: string) => join(w.dir, n);
      writeFileSync(p('target'), 'through the link');
      symlinkSync('target', p('rel'));
      symlinkSync(p('target'), p('abs'));
      symlinkSync('nowhere', p('dangling'));
      assert.equal(readlinkSync(p('rel')), 'target');
      assert.equal(readlinkSync(p('abs')), p('target'));
      assert.equal(sh('readlink dangling', { cwd: w.dir }), 'nowhere\n');
      assert.ok(lstatSync(p('rel')).isSymbolicLink());
      assert.equal(lstatSync(p('rel')).size, 'target'.length);
      assert.equal(readFileSync(p('rel'), 'utf8'), 'through the link');
      assert.equal(readFileSync(p('abs'), 'utf8'), 'through the link');
      assert.throws(() => readFileSync(p('dangling')), { code: 'ENOENT' });
      mkdirSync(p('d'));
      writeFileSync(p('d/f'), 'f');
      symlinkSync('d', p('dl'));
      assert.deepEqual(readdirSync(p('dl')), ['f']);
      assert.equal(sh('stat -c %F dl && stat -L -c %F dl', { cwd: w.dir }), 'symbolic link\ndirectory\n');
      if (w.back) assert.equal(readlinkSync(join(w.back, 'rel')), 'target');
    },
  ],
  [
    'user.* xattrs: set, get, list, remove',
    (w) => {
      const f = join(w.dir, 'f');
      writeFileSync(f, '');
      sh('setfattr -n user.colour -v blue f && setfattr -n user.shape -v 0x00ff00 f', { cwd: w.dir });
      assert.equal(sh('getfattr --only-values -n user.colour f', { cwd: w.dir }), 'blue');
      assert.equal(sh('getfattr -e hex -n user.shape f', { cwd: w.dir }).match(/user\.shape=(\S+)/)?.[1], '0x00ff00');
      assert.equal(py('import os, sys\nprint(sorted(os.listxattr(sys.argv[1])))', f), "['user.colour', 'user.shape']");
      assert.match(sh('getfattr -d f', { cwd: w.dir }), /user\.colour="blue"/);
      assert.equal(
        py(
          'import os, sys\ntry:\n  os.setxattr(sys.argv[1], "user.colour", b"red", os.XATTR_CREATE)\nexcept FileExistsError:\n  print("EEXIST")',
          f,
        ),
        'EEXIST',
      );
      if (w.back) assert.equal(sh(`getfattr --only-values -n user.colour ${join(w.back, 'f')}`), 'blue');
      sh('setfattr -x user.colour f', { cwd: w.dir });
      assert.equal(py('import os, sys\nprint(os.listxattr(sys.argv[1]))', f), "['user.shape']");
      const gone = run('getfattr', ['-n', 'user.colour', f]);
      assert.notEqual(gone.status, 0);
      assert.match(gone.stderr, /No such attribute/);
      // On a directory too.
      sh('mkdir d && setfattr -n user.k -v v d', { cwd: w.dir });
      assert.equal(sh('getfattr --only-values -n user.k d', { cwd: w.dir }), 'v');
    },
  ],
  [
    'a sparse file with a write at 5 GiB: size, du, zeros in the hole, SEEK_DATA/SEEK_HOLE',
    (w) => {
      const f = join(w.dir, 'sparse');
      const out = py(
        `import os, sys, json
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
assert os.pwrite(fd, b'tail', 5 << 30) == 4
st = os.fstat(fd)
hole_zeros = os.pread(fd, 1 << 20, 1 << 30) == bytes(1 << 20) and os.pread(fd, 4096, (5 << 30) - 4096) == bytes(4096)
try:
    os.lseek(fd, (5 << 30) + 4, os.SEEK_DATA)
    past_end = 'data'
except OSError as e:
    past_end = os.strerror(e.errno)
print(json.dumps({
  'size': st.st_size, 'blocks': st.st_blocks, 'zeros': hole_zeros,
  'tail': os.pread(fd, 100, 5 << 30).decode(),
  'data0': os.lseek(fd, 0, os.SEEK_DATA), 'hole0': os.lseek(fd, 0, os.SEEK_HOLE),
  'holeTail': os.lseek(fd, 5 << 30, os.SEEK_HOLE), 'pastEnd': past_end,
}))`,
        f,
      );
      const r = JSON.parse(out);
      assert.equal(r.size, 5 * GiB + 4);
      assert.ok(r.blocks * 512 <= MiB, `only the written part is allocated (${r.blocks} blocks)`);
      assert.ok(Number(sh('du -k sparse', { cwd: w.dir }).split('\t')[0]) <= 1024, 'du is small');
      assert.equal(r.zeros, true, 'the hole reads as zeros');
      assert.equal(r.tail, 'tail');
      assert.equal(r.data0, 5 * GiB, 'SEEK_DATA from 0 skips the hole');
      assert.equal(r.hole0, 0, 'SEEK_HOLE from 0 is 0');
      assert.equal(r.holeTail, 5 * GiB + 4, 'after the data, the next hole is EOF');
      assert.equal(r.pastEnd, 'No such device or address', 'SEEK_DATA at EOF is ENXIO');
      assert.equal(statSync(f).size, 5 * GiB + 4);
      if (w.back) {
        const b = statSync(join(w.back, 'sparse'));
        assert.equal(b.size, 5 * GiB + 4);
        assert.ok(b.blocks * 512 <= MiB, 'sparse in the backing directory too');
      }
    },
  ],
  [
    'fallocate: allocate, keep size, punch a hole',
    (w) => {
      const f = join(w.dir, 'f');
      sh('fallocate -l 1MiB f', { cwd: w.dir });
      let st = statSync(f);
      assert.equal(st.size, MiB);
      assert.ok(st.blocks * 512 >= MiB, `allocated: ${st.blocks} blocks`);
      assert.ok(readFileSync(f).every((b) => b === 0));
      sh('fallocate -n -o 1MiB -l 1MiB f', { cwd: w.dir });
      st = statSync(f);
      assert.equal(st.size, MiB, '--keep-size does not grow the file');
      assert.ok(st.blocks * 512 >= 2 * MiB, `but allocates: ${st.blocks} blocks`);
      writeFileSync(join(w.dir, 'g'), Buffer.alloc(16384, 'x'));
      sh('fallocate -p -o 4096 -l 4096 g', { cwd: w.dir });
      const g = readFileSync(join(w.dir, 'g'));
      assert.equal(g.length, 16384, 'punching keeps the size');
      assert.ok(g.subarray(0, 4096).every((b) => b === 0x78));
      assert.ok(
        g.subarray(4096, 8192).every((b) => b === 0),
        'the punched range reads as zeros',
      );
      assert.ok(g.subarray(8192).every((b) => b === 0x78));
      if (w.back) assert.equal(statSync(join(w.back, 'f')).size, MiB);
    },
  ],
  [
    'copy_file_range copies whole files and ranges',
    (w) => {
      const out = py(
        `import os, sys
d = sys.argv[1]
data = os.urandom(3 << 20)
with open(os.path.join(d, 'src'), 'wb') as f: f.write(data)
def copy(src, dst, length, off_in, off_out):
    a = os.open(os.path.join(d, src), os.O_RDONLY)
    b = os.open(os.path.join(d, dst), os.O_WRONLY | os.O_CREAT, 0o644)
    done = 0
    while done < length:
        n = os.copy_file_range(a, b, length - done, off_in + done, off_out + done)
        if n == 0: break
        done += n
    os.close(a); os.close(b)
    return done
assert copy('src', 'whole', len(data), 0, 0) == len(data)
assert copy('src', 'part', 100000, 4096, 8192) == 100000
whole = open(os.path.join(d, 'whole'), 'rb').read()
part = open(os.path.join(d, 'part'), 'rb').read()
print(whole == data, part == bytes(8192) + data[4096:104096])`,
        w.dir,
      );
      assert.equal(out, 'True True');
      if (w.back) assert.equal(sha256(join(w.back, 'whole')), sha256(join(w.back, 'src')));
    },
  ],
  [
    'an unlinked file stays usable through its open descriptor',
    (w) => {
      const f = join(w.dir, 'ghost');
      const out = py(
        `import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(sys.argv[1])
assert not os.path.exists(sys.argv[1])
os.write(fd, b'still here')
os.lseek(fd, 0, os.SEEK_SET)
st = os.fstat(fd)
os.fchmod(fd, 0o600)
print(os.read(fd, 100).decode(), st.st_nlink, st.st_size, oct(os.fstat(fd).st_mode & 0o777))`,
        f,
      );
      assert.equal(out, 'still here 0 10 0o600');
      assert.equal(existsSync(f), false);
      assert.deepEqual(readdirSync(w.dir), []);
      if (w.back) assert.deepEqual(readdirSync(w.back), []);
    },
  ],
  [
    // As xfstests generic/035 checks: fstat of such a directory gave ESTALE.
    'a directory removed, or replaced by a rename, stays usable through its open descriptor',
    (w) => {
      const out = py(
        `import os, stat, sys
d = sys.argv[1]
for how in ('rmdir', 'rename'):
    os.mkdir(os.path.join(d, 'old'))
    fd = os.open(os.path.join(d, 'old'), os.O_RDONLY | os.O_DIRECTORY)
    if how == 'rmdir':
        os.rmdir(os.path.join(d, 'old'))
    else:
        os.mkdir(os.path.join(d, 'new'))
        os.rename(os.path.join(d, 'new'), os.path.join(d, 'old'))
    os.fchmod(fd, 0o701)
    st = os.fstat(fd)
    print(how, stat.S_ISDIR(st.st_mode), st.st_nlink, oct(st.st_mode & 0o777))
    os.close(fd)`,
        w.dir,
      );
      assert.equal(out, 'rmdir True 0 0o701\nrename True 0 0o701');
      assert.deepEqual(readdirSync(w.dir), ['old']);
      assert.equal(statSync(join(w.dir, 'old')).mode & 0o777, 0o755 & ~process.umask(), 'the directory that took the name is untouched');
    },
  ],
  [
    'permission checks for another user (uid 65534)',
    (w) => {
      writeFileSync(join(w.dir, 'secret'), 'root only');
      chmodSync(join(w.dir, 'secret'), 0o600);
      writeFileSync(join(w.dir, 'public'), 'everyone');
      chmodSync(join(w.dir, 'public'), 0o644);
      mkdirSync(join(w.dir, 'rootdir'), { mode: 0o755 });
      const read = asNobody('cat secret', w.dir);
      assert.notEqual(read.status, 0);
      assert.match(read.stderr, /Permission denied/);
      assert.doesNotMatch(read.stdout, /root only/);
      assert.equal(asNobody('cat public', w.dir).stdout, 'everyone');
      const overwrite = asNobody('echo x > public', w.dir);
      assert.match(overwrite.stderr, /Permission denied/);
      const create = asNobody('touch rootdir/mine', w.dir);
      assert.notEqual(create.status, 0);
      assert.match(create.stderr, /Permission denied/);
      assert.deepEqual(readdirSync(join(w.dir, 'rootdir')), []);
      const chmod = asNobody('chmod 777 public', w.dir);
      assert.match(chmod.stderr, /Operation not permitted/);
      assert.equal(statSync(join(w.dir, 'public')).mode & 0o777, 0o644);
      chmodSync(join(w.dir, 'rootdir'), 0o700);
      assert.match(asNobody('ls rootdir', w.dir).stderr, /Permission denied/);
    },
  ],
  [
    'POSIX ACLs set through the mount are enforced for another user (uid 65534): an entry that denies, one that grants (passthrough; the memory backend has none)',
    (w) => {
      if (w.kind === 'memory') {
        // No ACLs in the memory backend: refused, as by a filesystem mounted without them, rather than kept and half-honoured.
        writeFileSync(join(w.dir, 'f'), '');
        assert.match(run('setfacl', ['-m', 'u:nobody:---', join(w.dir, 'f')]).stderr, /Operation not supported/);
        assert.match(sh('getfacl -cp f', { cwd: w.dir }), /^user::rw-\ngroup::r--\nother::r--/);
        return;
      }
      writeFileSync(join(w.dir, 'denied'), 'not for nobody');
      chmodSync(join(w.dir, 'denied'), 0o644);
      mkdirSync(join(w.dir, 'granted'), { mode: 0o700 });
      writeFileSync(join(w.dir, 'granted', 'f'), 'for nobody');
      chmodSync(join(w.dir, 'granted', 'f'), 0o644);
      sh('setfacl -m u:nobody:--- denied && setfacl -m u:nobody:rx granted', { cwd: w.dir });
      assert.match(sh('getfacl -cp denied', { cwd: w.dir }), /^user:nobody:---$/m);
      // The mode alone lets others read 'denied' and keeps them out of 'granted': the ACL decides both.
      const read = asNobody('cat denied', w.dir);
      assert.match(read.stderr, /Permission denied/);
      assert.doesNotMatch(read.stdout, /not for nobody/);
      assert.equal(asNobody('cat granted/f', w.dir).stdout, 'for nobody');
      assert.match(asNobody('touch granted/new', w.dir).stderr, /Permission denied/, 'the entry grants rx, not w');
      sh('setfacl -x u:nobody denied', { cwd: w.dir });
      assert.equal(asNobody('cat denied', w.dir).stdout, 'not for nobody', 'removing the entry is seen at once');
    },
  ],
  [
    // As xfstests generic/375 checks: the daemon, root, kept the bit.
    'an owner outside the group who sets an access ACL loses the setgid bit; one in it keeps it (passthrough; memory has no ACLs)',
    (w) => {
      if (w.kind === 'memory') return;
      const setfacl = (name: string, gid: number): string => {
        const path = join(w.dir, name);
        chownSync(path, NOBODY, NOBODY);
        chmodSync(path, 0o2755);
        const r = run('setpriv', [`--reuid=${NOBODY}`, `--regid=${gid}`, '--clear-groups', 'setfacl', '-m', 'u::rwx,g::rwx,o::rwx', path]);
        assert.equal(r.status, 0, r.stderr);
        return (statSync(path).mode & 0o7777).toString(8);
      };
      writeFileSync(join(w.dir, 'member'), '');
      writeFileSync(join(w.dir, 'outsider'), '');
      mkdirSync(join(w.dir, 'dir'));
      assert.equal(setfacl('member', NOBODY), '2777');
      assert.equal(setfacl('outsider', NOBODY - 1), '777');
      assert.equal(setfacl('dir', NOBODY - 1), '777');
    },
  ],
  [
    // As xfstests generic/099 checks: the kernel took the umask off itself, also under a default ACL.
    "new nodes take the caller's umask; under a directory's default ACL, the ACL's modes instead (passthrough; memory has none)",
    (w) => {
      const made = (dir: string): string =>
        sh(
          `cd ${dir} && umask 077 && touch f && mkdir d && mkfifo p && python3 -c "import os; os.mknod('n', 0o640)" && stat -c '%n %a' f d p n`,
        );
      mkdirSync(join(w.dir, 'plain'));
      assert.equal(made(join(w.dir, 'plain')), 'f 600\nd 700\np 600\nn 600\n');
      if (w.kind === 'memory') return;
      mkdirSync(join(w.dir, 'acl'));
      sh(`setfacl -d -m u::rwx,g::r-x,o::r-- ${join(w.dir, 'acl')}`);
      assert.equal(made(join(w.dir, 'acl')), 'f 644\nd 754\np 644\nn 640\n', 'the default ACL, not the umask 077');
      assert.match(sh(`getfacl -cp ${join(w.dir, 'acl', 'd')}`), /^default:group::r-x$/m, 'a new directory inherits the default');
    },
  ],
  [
    'a directory renamed away or removed and made again takes new files, not its old inode',
    (w) => {
      // The passthrough backend keeps parent-directory fds by path: renames and rmdirs must drop them.
      const d = join(w.dir, 'd');
      mkdirSync(d);
      writeFileSync(join(d, 'a'), 'a');
      renameSync(d, join(w.dir, 'e'));
      mkdirSync(d);
      writeFileSync(join(d, 'b'), 'b');
      assert.deepEqual(readdirSync(d), ['b']);
      assert.deepEqual(readdirSync(join(w.dir, 'e')), ['a']);
      rmSync(d, { recursive: true });
      mkdirSync(d);
      writeFileSync(join(d, 'c'), 'c');
      mkdirSync(join(w.dir, 'e', 'sub'));
      writeFileSync(join(w.dir, 'e', 'sub', 's'), 's');
      renameSync(join(w.dir, 'e', 'sub'), join(d, 'moved'));
      writeFileSync(join(d, 'moved', 't'), 't');
      assert.deepEqual(readdirSync(d).sort(), ['c', 'moved']);
      assert.deepEqual(readdirSync(join(d, 'moved')).sort(), ['s', 't']);
      assert.deepEqual(readdirSync(join(w.dir, 'e')), ['a']);
      if (w.back) {
        assert.deepEqual(readdirSync(join(w.back, 'd')).sort(), ['c', 'moved'], 'the backing tree agrees');
        assert.deepEqual(readdirSync(join(w.back, 'd', 'moved')).sort(), ['s', 't']);
      }
      // The same in the mount's root, whose entries the backend reaches without a cached fd: there
      // nothing between the rename or rmdir and the next create resolves another directory.
      const top = join(w.mnt, 'renamed-in-root');
      const away = join(w.mnt, 'renamed-in-root-away');
      try {
        mkdirSync(top);
        writeFileSync(join(top, 'a'), 'a');
        renameSync(top, away);
        mkdirSync(top);
        writeFileSync(join(top, 'b'), 'b');
        assert.deepEqual(readdirSync(top), ['b']);
        assert.deepEqual(readdirSync(away), ['a']);
        rmSync(top, { recursive: true });
        mkdirSync(top);
        writeFileSync(join(top, 'c'), 'c');
        assert.deepEqual(readdirSync(top), ['c']);
      } finally {
        rmSync(top, { recursive: true, force: true });
        rmSync(away, { recursive: true, force: true });
      }
    },
  ],
  [
    'a file or directory replaced by a rename is not reached through its old name: ops on it never touch the replacement',
    (w) => {
      // The kernel still holds the replaced inodes (an O_PATH descriptor, a directory descriptor), and
      // sends ops on them by node: the daemon must not send those to the path, where the replacement is.
      const out = py(
        `import errno, os, sys
d = sys.argv[1]
def attempt(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
for n in ('a', 'b'):
    with open(os.path.join(d, n), 'w') as f: f.write(n)
    os.chmod(os.path.join(d, n), 0o644)
held = os.open(os.path.join(d, 'a'), os.O_PATH)
os.rename(os.path.join(d, 'b'), os.path.join(d, 'a'))
chmod = attempt(lambda: os.chmod(f'/proc/self/fd/{held}', 0o600))
setxattr = attempt(lambda: os.setxattr(f'/proc/self/fd/{held}', 'user.k', b'v'))
os.mkdir(os.path.join(d, 'd1'))
os.mkdir(os.path.join(d, 'd2'))
dfd = os.open(os.path.join(d, 'd1'), os.O_RDONLY | os.O_DIRECTORY)
os.rename(os.path.join(d, 'd2'), os.path.join(d, 'd1'))
mkdir = attempt(lambda: os.mkdir('x', dir_fd=dfd))
create = attempt(lambda: os.close(os.open('y', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=dfd)))
with open(os.path.join(d, 'c'), 'w') as f: f.write('c')
gone = os.open(os.path.join(d, 'c'), os.O_PATH)
os.unlink(os.path.join(d, 'c'))
unlinked = attempt(lambda: os.chmod(f'/proc/self/fd/{gone}', 0o600))
print(chmod, setxattr, mkdir, create, unlinked)`,
        w.dir,
      );
      const [chmod, setxattr, mkdir, create, unlinked] = out.split(' ');
      // Natively both reach the orphaned inode; here they fail, and never land on the replacement.
      assert.equal(chmod, 'ESTALE', 'replaced by a rename: stale, as on NFS (a racing path walk is retried)');
      assert.equal(setxattr, 'ESTALE');
      assert.equal(unlinked, 'ENOENT', 'unlinked, nothing in its place: no such file');
      assert.equal(mkdir, 'ENOENT', 'a name in a removed directory names nothing, as natively');
      assert.equal(create, 'ENOENT');
      assert.equal(statSync(join(w.dir, 'a')).mode & 0o777, 0o644, "the replacement's mode is untouched");
      assert.equal(readFileSync(join(w.dir, 'a'), 'utf8'), 'b');
      assert.throws(() => py(`import os, sys\nos.getxattr(sys.argv[1], 'user.k')`, join(w.dir, 'a')), /ENODATA|No data available/);
      assert.deepEqual(readdirSync(join(w.dir, 'd1')), [], 'nothing was made in the directory that took the name');
      if (w.back) {
        assert.equal(statSync(join(w.back, 'a')).mode & 0o777, 0o644);
        assert.deepEqual(readdirSync(join(w.back, 'd1')), []);
      }
    },
  ],
  [
    "a write by another user clears a file's setuid and setgid bits, as on a native filesystem",
    (w) => {
      // The daemon runs as root, whose own writes keep the bits: kernel passthrough must not
      // hand it such a file, and writes through the daemon must still clear them.
      for (const [name, mode] of [
        ['suid', 0o4777],
        ['sgid', 0o2777],
      ] as const) {
        const f = join(w.dir, name);
        writeFileSync(f, 'root wrote this\n');
        chmodSync(f, mode);
        assert.equal(statSync(f).mode & 0o7777, mode);
        const r = asNobody(`echo nobody was here >> ${name}`, w.dir);
        assert.equal(r.status, 0, r.stderr);
        // stat(1) asks for the mode alone: what the kernel still caches of the file shows too.
        assert.equal(sh(`stat -c %a ${name}`, { cwd: w.dir }).trim(), '777', `${name}: the bit is gone after the write`);
        assert.equal(readFileSync(f, 'utf8'), 'root wrote this\nnobody was here\n');
        if (w.back) assert.equal(statSync(join(w.back, name)).mode & 0o7777, 0o777, `${name}: and in the backing file`);
      }
    },
  ],
  [
    'truncations, chowns and writes clear or keep set-id bits exactly as on a native filesystem',
    (w) => {
      // Since HANDLE_KILLPRIV_V2 the kernel leaves this to the daemon. Each step on its own file:
      // [name, mode, group, who, command]; the modes after them must match a native directory's.
      // 'nobody+1234' is uid/gid 65534 with supplementary group 1234.
      const steps = [
        ['sgid-no-gx', 0o2767, 0, 'nobody', 'echo more >> sgid-no-gx'],
        ['sgid-no-gx-own-group', 0o2767, NOBODY, 'nobody', 'echo more >> sgid-no-gx-own-group'],
        ['sgid-no-gx-supplementary', 0o2767, 1234, 'nobody+1234', 'echo more >> sgid-no-gx-supplementary'],
        ['truncate', 0o6777, 0, 'nobody', 'truncate -s 1 truncate'],
        ['open-trunc', 0o4777, 0, 'nobody', ': > open-trunc'],
        ['root-write', 0o6777, 0, 'root', 'echo more >> root-write'],
        ['root-chown', 0o6755, 0, 'root', `chown ${NOBODY} root-chown`],
        ['root-chown-no-gx', 0o2745, 0, 'root', `chown ${NOBODY} root-chown-no-gx`],
        ['root-chmod', 0o755, 0, 'root', 'chmod 6755 root-chmod && echo more >> root-chmod'],
      ] as const;
      const modesAfter = (dir: string): Record<string, string> => {
        const out: Record<string, string> = {};
        for (const [name, mode, group, who, cmd] of steps) {
          const f = join(dir, name);
          writeFileSync(f, 'data\n');
          chownSync(f, 0, group);
          chmodSync(f, mode);
          const r =
            who === 'root'
              ? run('sh', ['-c', cmd], { cwd: dir })
              : who === 'nobody'
                ? asNobody(cmd, dir)
                : run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--groups=1234', 'sh', '-c', cmd], { cwd: dir });
          assert.equal(r.status, 0, `${name}: ${r.stderr}`);
          // stat(1) asks statx for the mode alone, which the kernel answers from its cache if it may.
          out[name] = sh(`stat -c %a ${name}`, { cwd: dir }).trim();
        }
        return out;
      };
      const native = tempDir('posix-setid');
      try {
        chmodSync(native, 0o755);
        const want = modesAfter(native);
        assert.deepEqual(want, {
          'sgid-no-gx': '767',
          'sgid-no-gx-own-group': '2767',
          'sgid-no-gx-supplementary': '2767',
          truncate: '777',
          'open-trunc': '777',
          'root-write': '6777',
          'root-chown': '755',
          'root-chown-no-gx': '2745',
          'root-chmod': '6755',
        });
        assert.deepEqual(modesAfter(w.dir), want);
        if (w.back) {
          for (const [name] of steps)
            assert.equal((statSync(join(w.back, name)).mode & 0o7777).toString(8), want[name], `${name} in the backing file`);
        }
      } finally {
        rmSync(native, { recursive: true, force: true });
      }
    },
  ],
  [
    'files and directories made by uid 65534 in a 1777 directory belong to 65534',
    (w) => {
      const pub = join(w.dir, 'pub');
      mkdirSync(pub);
      chmodSync(pub, 0o1777);
      const r = asNobody('touch pub/f && mkdir pub/d && ln -s f pub/l && mkfifo pub/p', w.dir);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        sh('stat -c "%u:%g %n" f d p && stat -c "%u:%g %n" l', { cwd: pub }),
        '65534:65534 f\n65534:65534 d\n65534:65534 p\n65534:65534 l\n',
      );
      const back = w.back;
      if (back) {
        for (const n of ['f', 'd', 'l', 'p']) {
          const st: Stats = lstatSync(join(back, 'pub', n));
          assert.equal(`${n} ${st.uid}:${st.gid}`, `${n} ${NOBODY}:${NOBODY}`, 'owned by the caller in the backing directory');
        }
      }
      // The sticky bit: nobody cannot remove root's file there.
      writeFileSync(join(pub, 'roots'), '');
      const rm = asNobody('rm -f pub/roots', w.dir);
      assert.match(rm.stderr, /Operation not permitted/);
      assert.ok(existsSync(join(pub, 'roots')));
      assert.equal(asNobody('rm pub/f && rmdir pub/d', w.dir).status, 0);
    },
  ],
  [
    'a setgid directory passes its group (and the bit, to directories) down',
    (w) => {
      const sg = join(w.dir, 'sg');
      mkdirSync(sg);
      sh('chown 0:1234 sg && chmod 2775 sg', { cwd: w.dir });
      sh('touch sg/f && mkdir sg/d', { cwd: w.dir });
      assert.equal(sh('stat -c "%g %a %n" sg/f sg/d', { cwd: w.dir }), '1234 644 sg/f\n1234 2755 sg/d\n');
      sh('mkdir sg/d/deeper', { cwd: w.dir });
      assert.equal(sh('stat -c "%g %a" sg/d/deeper', { cwd: w.dir }), '1234 2755\n');
      if (w.back) assert.equal(statSync(join(w.back, 'sg/f')).gid, 1234);
    },
  ],
  [
    'a directory with 10,000 entries lists every name once',
    (w) => {
      const d = join(w.dir, 'many');
      mkdirSync(d);
      py('import os, sys\nfor i in range(10000):\n  open(os.path.join(sys.argv[1], "f%05d" % i), "w").close()', d);
      assert.equal(sh('ls | wc -l', { cwd: d }).trim(), '10000');
      const found = sh('find . -mindepth 1', { cwd: d }).trim().split('\n');
      assert.equal(found.length, 10000);
      assert.equal(new Set(found).size, 10000, 'find saw no name twice');
      const names = readdirSync(d);
      assert.equal(names.length, 10000);
      const want = Array.from({ length: 10000 }, (_, i) => `f${String(i).padStart(5, '0')}`);
      assert.deepEqual(names.sort(), want);
      assert.equal(sh('ls -la | wc -l', { cwd: d }).trim(), '10003', '"total", "." and ".." besides the names');
      if (w.back) assert.equal(readdirSync(join(w.back, 'many')).length, 10000);
      rmSync(d, { recursive: true });
      assert.equal(existsSync(d), false);
    },
  ],
  [
    '8 writers and 8 readers at once: every checksum matches',
    async (w) => {
      const src = tempDir('posix-src');
      try {
        sh('for i in 0 1 2 3 4 5 6 7; do head -c 16M /dev/urandom > w$i; head -c 16M /dev/urandom > r$i; done', { cwd: src });
        sh(`mkdir -p in out && for i in 0 1 2 3 4 5 6 7; do cp ${src}/r$i in/r$i; done`, { cwd: w.dir });
        // One shell starts all 16 processes and waits for them.
        await shAsync(
          `for i in 0 1 2 3 4 5 6 7; do
             dd if=${src}/w$i of=out/w$i bs=1M status=none &
             dd if=in/r$i bs=256k status=none | sha256sum > ${src}/read$i &
           done
           wait`,
          { cwd: w.dir },
        );
        for (let i = 0; i < 8; i++) {
          assert.equal(sha256(join(w.dir, `out/w${i}`)), sha256(join(src, `w${i}`)), `written file ${i}`);
          assert.equal(readFileSync(join(src, `read${i}`), 'utf8').split(' ')[0], sha256(join(src, `r${i}`)), `read file ${i}`);
          if (w.back) assert.equal(sha256(join(w.back, `out/w${i}`)), sha256(join(src, `w${i}`)));
        }
      } finally {
        rmSync(src, { recursive: true, force: true });
        rmSync(join(w.dir, 'in'), { recursive: true, force: true });
        rmSync(join(w.dir, 'out'), { recursive: true, force: true });
      }
    },
  ],
  [
    'a 64 MiB file copied in and out is byte-exact',
    (w) => {
      const native = tempDir('posix-big');
      try {
        sh('head -c 64M /dev/urandom > big', { cwd: native });
        sh(`cp ${native}/big big && cp big ${native}/back`, { cwd: w.dir });
        assert.equal(statSync(join(w.dir, 'big')).size, 64 * MiB);
        assert.equal(run('cmp', [join(native, 'big'), join(native, 'back')]).status, 0, 'the copy out matches the original');
        assert.equal(sha256(join(w.dir, 'big')), sha256(join(native, 'big')));
        if (w.back) assert.equal(run('cmp', [join(native, 'big'), join(w.back, 'big')]).status, 0);
      } finally {
        rmSync(native, { recursive: true, force: true });
        rmSync(join(w.dir, 'big'), { force: true });
      }
    },
  ],
  [
    'statfs through df and stat -f',
    (w) => {
      const [bsize, blocks, free] = sh(`stat -f -c "%S %b %f" ${w.mnt}`).trim().split(' ').map(Number);
      const df = sh(`df -B1 --output=source,size ${w.mnt}`).trim().split('\n')[1].trim().split(/\s+/);
      assert.equal(df[0], `interposer:${w.kind}`);
      if (w.kind === 'memory') {
        assert.equal(bsize * blocks, MEMORY_SIZE, 'the capacity is the configured size');
        assert.equal(Number(df[1]), MEMORY_SIZE);
        assert.ok(free <= blocks && free > blocks / 2);
      } else {
        const [bb, bblocks, bfree] = sh(`stat -f -c "%S %b %f" ${w.backing}`).trim().split(' ').map(Number);
        assert.equal(bsize, bb);
        assert.equal(blocks, bblocks, 'the same capacity as the backing filesystem');
        // Others may write to the host filesystem meanwhile: free space only roughly agrees.
        assert.ok(Math.abs(free - bfree) < bblocks / 100, `free ${free} vs backing ${bfree}`);
        assert.equal(Number(df[1]), Number(sh(`df -B1 --output=size ${w.backing}`).trim().split('\n')[1]));
      }
    },
  ],
  [
    'names that are not UTF-8 keep their bytes: no two become one, and a listed name can be opened',
    (w) => {
      // Latin-1 and stray bytes, a lone surrogate's CESU-8, U+FFFD itself, an emoji beside a stray byte,
      // and 255 bytes that Node's UTF-8 would turn into 765.
      const out = py(
        `import os, sys, shutil
d, back = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]) if len(sys.argv) > 2 else None
names = [b'\\x80abc', b'\\x81abc', b'caf\\xe9', b'caf\\xc3\\xa9', b'\\xff\\xfe', b'\\xed\\xa0\\x80', b'ok\\xef\\xbf\\xbd',
         b'\\xf0\\x9f\\x98\\x80\\x80', b'\\x80' * 255]
for i, n in enumerate(names):
    with open(os.path.join(d, n), 'w') as f: f.write(str(i))
assert [open(os.path.join(d, n)).read() for n in names] == [str(i) for i in range(len(names))]
assert sorted(os.listdir(d)) == sorted(names), os.listdir(d)
if back:
    assert sorted(os.listdir(back)) == sorted(names), os.listdir(back)
    open(os.path.join(back, b'beside\\xe9'), 'w').write('b')
    assert open(os.path.join(d, b'beside\\xe9')).read() == 'b'
    os.unlink(os.path.join(d, b'beside\\xe9'))
os.symlink(b'tar\\x80get', os.path.join(d, b'link\\x80'))
assert os.readlink(os.path.join(d, b'link\\x80')) == b'tar\\x80get'
os.setxattr(os.path.join(d, b'caf\\xe9'), b'user.x\\x80', b'v')
assert os.listxattr(os.path.join(d, b'caf\\xe9')) == [os.fsdecode(b'user.x\\x80')]
assert os.getxattr(os.path.join(d, b'caf\\xe9'), b'user.x\\x80') == b'v'
os.rename(os.path.join(d, b'\\x80abc'), os.path.join(d, b'\\x82new'))
os.link(os.path.join(d, b'\\x82new'), os.path.join(d, b'hard\\x83'))
assert open(os.path.join(d, b'hard\\x83')).read() == '0'
os.mkdir(os.path.join(d, b'sub\\x90'))
open(os.path.join(d, b'sub\\x90', b'in\\x91'), 'w').write('deep')
assert open(os.path.join(d, b'sub\\x90', b'in\\x91')).read() == 'deep'
try:
    open(os.path.join(d, b'\\x80' * 256), 'w')
    print('a 256-byte name was created')
except OSError as e:
    print(e.strerror)
shutil.rmtree(os.path.join(d, b'sub\\x90'))
for n in os.listdir(d): os.unlink(os.path.join(d, n))
print(len(os.listdir(d)))`,
        w.dir,
        ...(w.back ? [w.back] : []),
      );
      assert.equal(out, 'File name too long\n0');
    },
  ],
  [
    'mkfifo makes a FIFO that works as one through the mount',
    async (w) => {
      sh('mkfifo p', { cwd: w.dir });
      assert.equal(sh('stat -c %F p', { cwd: w.dir }), 'fifo\n');
      if (w.back) assert.ok(lstatSync(join(w.back, 'p')).isFIFO());
      // Each end blocks in open until the other arrives, so both run at once.
      const [writer, reader] = await Promise.all([
        exec('sh', ['-c', 'for i in 1 2 3; do echo line$i; done > p'], { cwd: w.dir }),
        exec('cat', ['p'], { cwd: w.dir }),
      ]);
      assert.equal(writer.status, 0, writer.stderr);
      assert.equal(reader.status, 0, reader.stderr);
      assert.equal(reader.stdout, 'line1\nline2\nline3\n');
      assert.equal(statSync(join(w.dir, 'p')).size, 0);
    },
  ],
];

const backends = [
  { kind: 'passthrough' as const, spec: (dir: string) => `passthrough:${dir}` },
  { kind: 'memory' as const, spec: () => `memory:${MEMORY_SIZE / GiB}GiB` },
];

for (const b of backends) {
  describe(b.kind, () => {
    let mnt = '';
    let backing: string | undefined;
    let daemon: Daemon | undefined;
    before(async () => {
      mnt = tempDir(`posix-${b.kind}`);
      if (b.kind === 'passthrough') backing = tempDir('posix-backing');
      daemon = await startDaemon(['--allow-other', '--backend', b.spec(backing ?? '')], mnt);
      chmodSync(mnt, 0o755); // mkdtemp made the backing root 0700: let uid 65534 in
    });
    after(async () => {
      try {
        if (daemon) await stopDaemon(daemon);
      } finally {
        rmSync(mnt, { recursive: true, force: true });
        if (backing) rmSync(backing, { recursive: true, force: true });
      }
    });
    cases.forEach(([name, fn, todo], i) => {
      it(name, { todo }, async () => {
        const slug = `case${String(i).padStart(2, '0')}`;
        const dir = join(mnt, slug);
        mkdirSync(dir);
        await fn({ kind: b.kind, dir, back: backing && join(backing, slug), mnt, backing });
      });
    });
  });
}
