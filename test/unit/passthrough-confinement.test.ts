// The passthrough backend must never touch anything outside its root, even
// while another process swaps a directory inside it for a symlink to the
// outside as fast as it can. Called directly, without a mount.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPassthrough } from '../../src/backends/passthrough.ts';
import * as at from '../../src/sys/at.ts';
import { FsError } from '../../src/vfs/errors.ts';
import { RENAME_NOREPLACE, type OpContext, type Vfs } from '../../src/vfs/types.ts';
import { code, sync } from '../helpers/vfs.ts';

const { O_RDONLY, O_RDWR, O_WRONLY, O_EXCL } = fs.constants;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

const rootCtx: OpContext = { uid: 0, gid: 0, pid: process.pid, unique: 1 };
const nobody: OpContext = { uid: 65534, gid: 65534, pid: process.pid, unique: 2 };

let tmp: string;
let root: string;
let outside: string;
let vfs: Vfs;

before(() => {
  tmp = fs.mkdtempSync(join(tmpdir(), 'interposer-confinement-'));
  root = join(tmp, 'root');
  outside = join(tmp, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  vfs = createPassthrough(root);
});

after(() => {
  vfs?.destroy?.();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('passthrough: confinement', () => {
  it('does not follow symlinks out of the root', () => {
    fs.writeFileSync(join(outside, 'secret'), 'TOP SECRET', { mode: 0o600 });
    fs.symlinkSync('/etc', join(root, 'link'));
    fs.symlinkSync('../outside', join(root, 'rel'));
    for (const p of ['/link/passwd', '/rel/secret', '/../outside/secret', '/link/../../etc/passwd']) {
      assert.notEqual(
        code(() => vfs.getattr(rootCtx, p)),
        'OK',
        p,
      );
      assert.notEqual(
        code(() => vfs.open(rootCtx, p, O_RDONLY)),
        'OK',
        p,
      );
      assert.notEqual(
        code(() => vfs.setattr(rootCtx, p, { mode: 0o777 })),
        'OK',
        p,
      );
      assert.notEqual(
        code(() => vfs.unlink(rootCtx, p)),
        'OK',
        p,
      );
      assert.notEqual(
        code(() => vfs.getxattr(rootCtx, p, 'user.x')),
        'OK',
        p,
      );
    }
    assert.match(
      code(() => vfs.getattr(rootCtx, '/link/passwd')),
      /^(EXDEV|ELOOP|ENOENT)$/,
    );
    assert.equal(sync(vfs.readlink(rootCtx, '/link')), '/etc');
    assert.equal(sync(vfs.getattr(rootCtx, '/link')).mode & S_IFMT, S_IFLNK);
    assert.notEqual(
      code(() => vfs.opendir(rootCtx, '/link')),
      'OK',
    );
    assert.notEqual(
      code(() => vfs.opendir(rootCtx, '/rel')),
      'OK',
    );
    assert.notEqual(
      code(() => vfs.create(rootCtx, '/rel/planted', O_RDWR, 0o644)),
      'OK',
    );
    assert.notEqual(
      code(() => vfs.mkdir(rootCtx, '/rel/planted-dir', 0o755)),
      'OK',
    );
    assert.notEqual(
      code(() => vfs.link(rootCtx, '/rel/secret', '/stolen')),
      'OK',
    );
    assert.notEqual(
      code(() => vfs.rename(rootCtx, '/rel/secret', '/stolen', 0)),
      'OK',
    );
    assert.notEqual(
      code(() => vfs.statfs(rootCtx, '/link/passwd')),
      'OK',
    );
    assert.equal(
      code(() => vfs.getattr(rootCtx, '/..')),
      'EINVAL',
    );
    assert.deepEqual(fs.readdirSync(outside), ['secret']);
    assert.equal(fs.statSync(join(outside, 'secret')).mode & 0o7777, 0o600);
  });

  it('never escapes while a directory is swapped for a symlink', async () => {
    // outside/ mirrors the names in root/dir with different content.
    const outsideDir = join(tmp, 'outside-race');
    fs.mkdirSync(outsideDir);
    fs.writeFileSync(join(outsideDir, 'secret'), 'TOP SECRET OUTSIDE', { mode: 0o600 });
    fs.writeFileSync(join(outsideDir, 'victim'), 'must survive');
    fs.writeFileSync(join(outsideDir, 'outside-only'), '');
    fs.mkdirSync(join(outsideDir, 'x'));
    const snapshotBefore = snapshot(outsideDir);
    const secretIno = fs.statSync(join(outsideDir, 'secret')).ino;

    for (const name of ['dir', 'd2']) {
      fs.mkdirSync(join(root, name));
      fs.writeFileSync(join(root, name, 'secret'), 'public');
      fs.writeFileSync(join(root, name, 'victim'), 'inside');
    }
    // root/dir and root/dirlink trade places atomically (RENAME_EXCHANGE), so
    // 'dir' always exists and is a real directory half the time.
    fs.symlinkSync('../outside-race', join(root, 'dirlink'));
    // root/d2 is replaced by an absolute symlink by plain renames (mv -T).
    const children: ChildProcess[] = [
      spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import * as at from ${JSON.stringify(new URL('../../src/sys/at.ts', import.meta.url).pathname)};
           const a = ${JSON.stringify(join(root, 'dir'))}, b = ${JSON.stringify(join(root, 'dirlink'))};
           console.log('ready');
           for (;;) at.renameat2(at.AT_FDCWD, a, at.AT_FDCWD, b, at.RENAME_EXCHANGE);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], detached: true },
      ),
      spawn(
        'bash',
        [
          '-c',
          `cd ${JSON.stringify(root)}; echo ready
           while :; do
             mv -T d2 d2.hold; ln -s ${JSON.stringify(outsideDir)} d2.tmp; mv -T d2.tmp d2
             rm -f d2; mv -T d2.hold d2
           done`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], detached: true },
      ),
    ];
    try {
      await Promise.all(children.map(ready));
      const tally = { ok: 0, failed: 0 };
      const deadline = Date.now() + 2000;
      const buf = Buffer.alloc(64);
      while (Date.now() < deadline) {
        for (const d of ['/dir', '/d2']) hammer(d, secretIno, buf, tally);
      }
      if (process.env.PASSTHROUGH_RACE_VERBOSE) console.log(tally);
      assert.ok(tally.ok > 100, `ops should succeed while the directory is real (${tally.ok})`);
      assert.ok(tally.failed > 100, `ops should fail while it is a symlink (${tally.failed})`);
    } finally {
      for (const c of children) {
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    }
    assert.deepEqual(snapshot(outsideDir), snapshotBefore);
  });
});

function ready(c: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    c.once('error', reject);
    c.once('exit', (code) => reject(new Error(`racer exited early (${code})`)));
    c.stdout!.once('data', () => resolve());
    c.stdout!.resume();
  });
}

/** One round of every op on dir/...; asserts none of them reached outside. */
function hammer(dir: string, secretIno: number, buf: Buffer, tally: { ok: number; failed: number }): void {
  const attempt = (fn: () => unknown): void => {
    try {
      if (fn() instanceof FsError) tally.failed++;
      else tally.ok++;
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      tally.failed++;
    }
  };
  attempt(() => {
    const a = sync(vfs.getattr(rootCtx, `${dir}/secret`));
    assert.notEqual(a.ino, secretIno, 'getattr reached the outside secret');
    assert.equal(a.size, 6);
  });
  attempt(() => {
    const { fh } = sync(vfs.open(rootCtx, `${dir}/secret`, O_RDONLY));
    try {
      const n = sync(vfs.read(rootCtx, `${dir}/secret`, fh, buf, 0));
      assert.equal(buf.toString('utf8', 0, n), 'public', 'open reached the outside secret');
      assert.notEqual(sync(vfs.getattr(rootCtx, '', fh)).ino, secretIno);
    } finally {
      vfs.release(rootCtx, '', fh);
    }
  });
  attempt(() => {
    const { fh } = sync(vfs.opendir(rootCtx, dir));
    try {
      const names = sync(vfs.readdir(rootCtx, dir, fh, 0n))
        .toArray()
        .map((e) => e.name);
      assert.ok(!names.includes('outside-only'), 'readdir listed the outside directory');
    } finally {
      vfs.releasedir(rootCtx, dir, fh);
    }
  });
  attempt(() => vfs.mkdir(nobody, `${dir}/x`, 0o755));
  attempt(() => vfs.rmdir(nobody, `${dir}/x`));
  attempt(() => vfs.release(nobody, '', sync(vfs.create(nobody, `${dir}/planted`, O_RDWR | O_EXCL, 0o644)).fh));
  attempt(() => vfs.unlink(nobody, `${dir}/planted`));
  attempt(() => vfs.unlink(rootCtx, `${dir}/victim`));
  attempt(() => vfs.release(rootCtx, '', sync(vfs.create(rootCtx, `${dir}/victim`, O_WRONLY | O_EXCL, 0o644)).fh));
  attempt(() => vfs.setattr(rootCtx, `${dir}/secret`, { mode: 0o666, uid: 65534 }));
  attempt(() => vfs.setxattr(rootCtx, `${dir}/secret`, 'user.pwned', Buffer.from('1'), 0));
  attempt(() => vfs.symlink(rootCtx, '/etc/shadow', `${dir}/sl`));
  attempt(() => vfs.unlink(rootCtx, `${dir}/sl`));
  attempt(() => vfs.rename(rootCtx, `${dir}/secret`, '/stolen-secret', RENAME_NOREPLACE));
  attempt(() => vfs.rename(rootCtx, '/stolen-secret', `${dir}/secret`, RENAME_NOREPLACE));
}

/** Everything about a flat directory that an escaped op could change. */
function snapshot(dir: string): unknown {
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => {
      const p = join(dir, name);
      const st = fs.lstatSync(p);
      return {
        name,
        ino: st.ino,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        nlink: st.nlink,
        content: st.isFile() ? fs.readFileSync(p, 'latin1') : null,
        xattrs: listXattrs(p),
      };
    });
}

function listXattrs(p: string): Record<string, string> {
  const names = at.listxattrat(at.AT_FDCWD, p, at.AT_SYMLINK_NOFOLLOW);
  assert.ok(Array.isArray(names));
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = at.getxattrat(at.AT_FDCWD, p, at.AT_SYMLINK_NOFOLLOW, name);
    out[name] = typeof value === 'number' ? `errno ${-value}` : value.toString('hex');
  }
  return out;
}
