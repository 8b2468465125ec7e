// Passthrough never escapes its root, tested through a real mount.
//
// Layout: one temp dir T holds the backing dir B and, next to it, an outside
// dir O (named OUT, unique) with O/secret = 'OUTSIDE-SECRET' and O/victim.
// B/dir is a real directory holding B/dir/secret = 'inside'. The mount lives
// in another temp dir, so its parent is /tmp, not T.
//
// Who follows a symlink matters. When the kernel looks up a name through the
// mount and the daemon answers "symlink", the kernel follows it itself, in
// the caller's namespace and relative to where the link sits in the MOUNT,
// exactly as for a native filesystem. So mnt/link -> /etc legitimately shows
// the host's /etc, and that is no escape of the daemon. To tell the two apart
// every symlink that leads out of B here is RELATIVE: B/dir -> ../OUT
// reaches O only when resolved inside B, i.e. by the daemon; the kernel
// resolves it to mnt/../OUT = /tmp/OUT, which does not exist (checked). So
// 'OUTSIDE-SECRET' in any output, or any change to O, means the daemon
// resolved a path through a symlink out of its root.
//
// The daemon gets a path with a symlink in the middle only when the kernel
// still believes a name is a directory after it was swapped for a symlink in
// B: deterministically with long entry timeouts (swap once behind the
// kernel's back), and as a race with a process swapping B/dir and a symlink
// back and forth with renameat2(RENAME_EXCHANGE) while tools work through the
// mount. A control run of the same swap natively shows that resolving inside
// B does reach the secret, so the race test can see an escape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, withMount } from '../helpers/mount.ts';
import { run } from '../helpers/run.ts';
import { start, stopChild, waitForLine, type Child } from '../fixtures/children.ts';

const SECRET = 'OUTSIDE-SECRET';

interface Layout {
  top: string;
  backing: string;
  outside: string;
  /** The outside dir's name: the relative target is `../${outName}`. */
  outName: string;
}

function makeLayout(): Layout {
  const top = tempDir('sec');
  const outName = `${basename(top)}-outside`;
  const backing = join(top, 'B');
  const outside = join(top, outName);
  mkdirSync(join(backing, 'dir'), { recursive: true });
  writeFileSync(join(backing, 'dir/secret'), 'inside\n');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), `${SECRET}\n`, { mode: 0o644 });
  writeFileSync(join(outside, 'victim'), 'do not delete\n', { mode: 0o644 });
  return { top, backing, outside, outName };
}

/** Names, types, modes, owners, sizes, times (ns), contents and xattrs of everything under `dir`, and of `dir` itself. */
function snapshot(dir: string): unknown {
  const r = run('python3', [
    '-c',
    `import os, sys, json
def entry(p):
    st = os.lstat(p)
    e = {'mode': st.st_mode, 'uid': st.st_uid, 'gid': st.st_gid, 'size': st.st_size, 'nlink': st.st_nlink,
         'mtime': st.st_mtime_ns, 'ctime': st.st_ctime_ns,
         'xattrs': {k: os.getxattr(p, k, follow_symlinks=False).hex() for k in os.listxattr(p, follow_symlinks=False)}}
    if os.path.isfile(p) and not os.path.islink(p): e['content'] = open(p).read()
    return e
out = {'.': entry(sys.argv[1])}
for root, dirs, files in os.walk(sys.argv[1]):
    for n in dirs + files:
        p = os.path.join(root, n)
        out[os.path.relpath(p, sys.argv[1])] = entry(p)
print(json.dumps(out, sort_keys=True))`,
    dir,
  ]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

// Swaps sys.argv[1]/dir and sys.argv[1]/.swap (a symlink) with
// renameat2(RENAME_EXCHANGE) as fast as it can; prints the count on SIGTERM.
const SWAPPER = `
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
dfd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
n = 0
def stop(*_):
    print('swaps', n, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print('ready', flush=True)
while True:
    if libc.syscall(316, dfd, b'dir', dfd, b'.swap', 2) != 0:
        sys.exit('renameat2: errno %d' % ctypes.get_errno())
    n += 1
`;

function startSwapper(l: Layout): Child {
  symlinkSync(`../${l.outName}`, join(l.backing, '.swap'));
  return start('python3', ['-c', SWAPPER, l.backing]);
}

// Everything a user might do to mnt/dir, in a loop until the file $1 exists.
// ls lines are prefixed so a listing of O would show up as "ls:victim".
const WORKLOAD = `
stop=$1
while [ ! -e "$stop" ]; do
  cat dir/secret
  stat -c 'stat:%n %s %F' dir/secret
  ls dir | sed 's/^/ls:/'
  touch dir/new
  rm -f dir/victim
  mkdir dir/x && rmdir dir/x
  chmod 600 dir/secret
  setfattr -n user.pwned -v 1 dir/secret
  echo iteration
done 2>&1
`;

test('control: resolving B/dir/secret natively while B/dir is being swapped does reach the outside secret', async () => {
  const l = makeLayout();
  let swapper: Child | undefined;
  try {
    swapper = startSwapper(l);
    await waitForLine(swapper, 'ready');
    const r = run('python3', [
      '-c',
      `import sys
for i in range(100000):
    try:
        if 'OUTSIDE' in open(sys.argv[1]).read():
            print('escaped after', i + 1, 'reads'); break
    except OSError:
        pass`,
      join(l.backing, 'dir/secret'),
    ]);
    assert.match(r.stdout, /escaped after/, 'the layout and the swapper can lead a naive reader out');
  } finally {
    await stopChild(swapper);
    rmSync(l.top, { recursive: true, force: true });
  }
});

test('static symlinks: the daemon reports them as links; the kernel follows them from the mount', async () => {
  const l = makeLayout();
  try {
    symlinkSync('/etc', join(l.backing, 'link'));
    symlinkSync(`../${l.outName}`, join(l.backing, 'rel'));
    await withMount(['--backend', `passthrough:${l.backing}`], async (mnt) => {
      assert.equal(existsSync(join(dirname(mnt), l.outName)), false, 'the relative target does not exist beside the mount');
      const sh = (script: string) => run('sh', ['-c', script], { cwd: mnt });
      assert.equal(sh('readlink link').stdout, '/etc\n');
      assert.equal(sh('stat -c %F link').stdout, 'symbolic link\n');
      // The kernel resolves /etc in the caller's namespace, as on any filesystem:
      // this is the host's passwd, not something the daemon served.
      assert.equal(sh('cat link/passwd').stdout, readFileSync('/etc/passwd', 'utf8'));

      assert.equal(sh('readlink rel').stdout, `../${l.outName}\n`);
      for (const script of ['cat rel/secret', 'ls rel/', 'stat rel/secret', 'cat rel/../dir/secret']) {
        const r = sh(script);
        assert.notEqual(r.status, 0, `${script} must fail`);
        assert.doesNotMatch(r.stdout + r.stderr, /OUTSIDE|victim/, script);
      }
    });
  } finally {
    rmSync(l.top, { recursive: true, force: true });
  }
});

test("a directory swapped for a symlink behind the kernel's back: the daemon does not follow it", async () => {
  const l = makeLayout();
  try {
    const before = snapshot(l.outside);
    await withMount(['--backend', `passthrough:${l.backing}`, '--entry-timeout', '1h', '--attr-timeout', '1h'], async (mnt) => {
      const sh = (script: string) => run('sh', ['-c', script], { cwd: mnt });
      // The kernel learns dir (a directory) and dir/secret, and trusts both for an hour.
      assert.equal(sh('cat dir/secret && ls dir').stdout, 'inside\nsecret\n');
      renameSync(join(l.backing, 'dir'), join(l.backing, 'dir.real'));
      symlinkSync(`../${l.outName}`, join(l.backing, 'dir'));
      assert.equal(sh('stat -c %F dir').stdout, 'directory\n', 'the kernel still believes dir is a directory');
      const outputs: string[] = [];
      for (const script of [
        'cat dir/secret',
        'ls dir',
        'stat dir/victim',
        'cat dir/victim',
        'touch dir/new',
        'echo data > dir/new2',
        'rm -f dir/victim',
        'mkdir dir/x',
        'chmod 600 dir/secret',
        'chown 65534 dir/secret',
        'touch -d 2001-01-01 dir/secret',
        'setfattr -n user.pwned -v 1 dir/secret',
        'ln -s x dir/sym',
        'ln dir/secret dir/hard',
        'mv dir/victim dir/moved',
        'truncate -s 0 dir/secret',
      ]) {
        const r = sh(script);
        outputs.push(`$ ${script}\n${r.stdout}${r.stderr}`);
      }
      const all = outputs.join('');
      assert.doesNotMatch(all, new RegExp(SECRET), all);
      assert.doesNotMatch(all, /^victim$/m, `O was listed:\n${all}`);
    });
    assert.deepEqual(snapshot(l.outside), before, 'O is unchanged');
  } finally {
    rmSync(l.top, { recursive: true, force: true });
  }
});

// Two kernel caching regimes: the default, and none (the kernel revalidates
// dir on every walk). Long timeouts are the deterministic test above: in a
// race the kernel soon learns (from a GETATTR or READDIRPLUS) that dir is a
// symlink and from then on follows it itself, so the daemon sees little.
for (const [label, flags] of [
  ['default timeouts', []],
  ['no kernel caching of names or attributes', ['--entry-timeout', '0', '--attr-timeout', '0']],
] as const) {
  test(`symlink race (${label}): tools working through the mount never reach outside the root`, async (t) => {
    const l = makeLayout();
    const stopFile = join(l.top, 'stop');
    let swapper: Child | undefined;
    let workload: Child | undefined;
    try {
      const before = snapshot(l.outside);
      await withMount(['--backend', `passthrough:${l.backing}`, ...flags], async (mnt) => {
        assert.equal(existsSync(join(dirname(mnt), l.outName)), false, 'the kernel would follow ../OUT to nothing');
        assert.equal(run('sh', ['-c', 'cat dir/secret && ls dir'], { cwd: mnt }).stdout, 'inside\nsecret\n');
        swapper = startSwapper(l);
        try {
          await waitForLine(swapper, 'ready');
          workload = start('sh', ['-c', WORKLOAD, 'workload', stopFile], { cwd: mnt });
          await sleep(3000); // how long to race, not a limit on anything
        } finally {
          writeFileSync(stopFile, '');
        }
        const w = await workload.done;
        const s = await stopChild(swapper, 'SIGTERM');
        const out = w.stdout;
        const count = (re: RegExp) => out.match(re)?.length ?? 0;
        t.diagnostic(
          `${/swaps \d+/.exec(s?.stdout ?? '')?.[0]}; ${count(/^iteration$/gm)} iterations, ${count(/^inside$/gm)} reads of the real secret, ` +
            `${count(/Invalid cross-device link/g)} EXDEV, ${count(/No such file or directory/g)} ENOENT`,
        );
        assert.ok(count(/^iteration$/gm) > 0, `the workload ran:\n${out.slice(0, 2000)}`);
        assert.ok(Number(/swaps (\d+)/.exec(s?.stdout ?? '')?.[1]) > 0, 'the swapper ran');
        assert.doesNotMatch(out, new RegExp(SECRET), 'the outside secret was served through the mount');
        assert.doesNotMatch(out, /^ls:victim$/m, 'O was listed through the mount');
      });
      assert.deepEqual(snapshot(l.outside), before, 'O is unchanged: same names, contents, modes, times, xattrs');
    } finally {
      await stopChild(workload);
      await stopChild(swapper);
      rmSync(l.top, { recursive: true, force: true });
    }
  });
}
