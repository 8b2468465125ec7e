// /etc/fstab and mount(8): with bin/mount.fuse.interposer linked where mount(8) looks for helpers, as an
// admin installs it, fstab lines and `mount -t fuse.interposer` mount with interposer, their options read
// as `interposer mount -o` reads them, and umount(8) ends the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CLI, NODE, ROOT, isMounted, waitFor, withTempDir } from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';

const HELPER = join(ROOT, 'bin/mount.fuse.interposer');
/** 2000-01-01, in seconds: an access time relatime replaces at the next read. */
const OLD = 946684800;
const INSTALLED = '/sbin/mount.fuse.interposer';

/** Runs `fn` with the helper linked into /sbin; a link made here is removed after. */
async function withHelperInstalled(fn: () => Promise<void>): Promise<void> {
  const there = existsSync(INSTALLED) || lstatSync(INSTALLED, { throwIfNoEntry: false }) !== undefined;
  if (there) assert.equal(realpathSync(INSTALLED), HELPER, `${INSTALLED} is not this checkout's helper; remove it to run this test`);
  else symlinkSync(HELPER, INSTALLED);
  try {
    await fn();
  } finally {
    if (!there) rmSync(INSTALLED);
  }
}

/** PIDs of the daemons serving `mnt` (started by mount(8) through the helper, so not known otherwise). */
function daemonsOf(mnt: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
        return args.includes('--config-on-stdin') && args.includes(mnt) ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
}

/** Source, type and options of the mount on `mnt`, as findmnt shows them. */
function shown(mnt: string): { source: string; fstype: string; options: string[] } {
  const [source, fstype, options] = sh(`findmnt -n -r -o SOURCE,FSTYPE,OPTIONS --mountpoint ${mnt}`).trim().split(' ');
  return { source, fstype, options: options.split(',') };
}

/** Runs `fn` on the mount mount(8) made on `mnt`; then unmounts it with umount(8) and sees its daemon end. */
async function withMounted(mnt: string, fn: (daemons: number[]) => void): Promise<void> {
  const daemons = daemonsOf(mnt);
  try {
    assert.equal(daemons.length, 1, `one daemon serves ${mnt}`);
    fn(daemons);
    const u = run('umount', [mnt]);
    assert.equal(u.status, 0, u.stderr);
    await waitFor(() => !existsSync(`/proc/${daemons[0]}`), 10000, 'the daemon ends once umount(8) unmounted it');
  } finally {
    for (const pid of daemons) if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    if (isMounted(mnt)) sh(`umount -l ${mnt}`);
  }
}

test('an fstab line and mount -t fuse.interposer mount through bin/mount.fuse.interposer; umount(8) ends the daemon', async () => {
  await withTempDir('fstab', (dir) =>
    withHelperInstalled(async () => {
      const [backing, mnt, logFile] = [join(dir, 'data'), join(dir, 'mnt'), join(dir, 'daemon.log')];
      mkdirSync(backing);
      mkdirSync(mnt);
      writeFileSync(join(backing, 'hello'), 'from the backing directory\n');
      writeFileSync(join(backing, 'tool'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
      const fstab = join(dir, 'fstab');
      const options = `noexec,noatime,cache=direct,log=${logFile},nofail,x-systemd.requires=network.target`;
      writeFileSync(fstab, `# an admin's line\n${backing} ${mnt} fuse.interposer ${options} 0 0\n`);

      const m = run('mount', ['-T', fstab, mnt]);
      assert.equal(m.status, 0, m.stderr);
      assert.equal(m.stdout, '', 'nothing printed, as for other file systems');
      await withMounted(mnt, (daemons) => {
        const { source, fstype, options } = shown(mnt);
        assert.equal(source, backing, 'df and findmnt show the fstab source');
        assert.equal(fstype, 'fuse.interposer');
        for (const flag of ['noexec', 'noatime', 'nosuid', 'nodev']) assert.ok(options.includes(flag), `${flag} in ${options}`);
        // noatime reaches the backing directory where data goes through the daemon (cache=direct): reading
        // through the mount leaves its files' access times. (Under kernel passthrough the kernel reads them.)
        utimesSync(join(backing, 'hello'), OLD, OLD);
        assert.equal(readFileSync(join(mnt, 'hello'), 'utf8'), 'from the backing directory\n');
        assert.equal(statSync(join(backing, 'hello')).atimeMs, OLD * 1000, 'noatime: the access time stays');
        const exec = run(join(mnt, 'tool'), []);
        assert.equal((exec.error as NodeJS.ErrnoException | undefined)?.code, 'EACCES', 'noexec holds');
        const ctl = run(NODE, [CLI, 'ctl', 'show', mnt]);
        assert.equal(ctl.status, 0, ctl.stderr);
        assert.equal((JSON.parse(ctl.stdout) as { config: { mount: { cache: string } } }).config.mount.cache, 'direct');
        // A remount changes the mount flags and keeps the daemon: mount(8) hands the fstab line's options back.
        const ro = run('mount', ['-T', fstab, '-o', 'remount,ro', mnt]);
        assert.equal(ro.status, 0, ro.stderr);
        assert.ok(
          ['ro', 'noexec', 'noatime'].every((f) => shown(mnt).options.includes(f)),
          `${shown(mnt).options}`,
        );
        assert.throws(() => writeFileSync(join(mnt, 'new'), 'x'), /EROFS/);
        // Without fstab it hands back the options /proc/mounts shows; exec undoes noexec.
        const rw = run('mount', ['-o', 'remount,rw,exec', mnt]);
        assert.equal(rw.status, 0, rw.stderr);
        assert.ok(shown(mnt).options.includes('rw') && !shown(mnt).options.includes('noexec'), `${shown(mnt).options}`);
        writeFileSync(join(mnt, 'new'), 'x');
        assert.equal(readFileSync(join(backing, 'new'), 'utf8'), 'x');
        assert.deepEqual(daemonsOf(mnt), daemons, 'the same daemon serves on');
        // `mount -a` finds the line mounted (same source, same place) and leaves it.
        const again = run('mount', ['-T', fstab, '-a']);
        assert.equal(again.status, 0, again.stderr);
        assert.equal(
          readFileSync('/proc/self/mountinfo', 'utf8')
            .split('\n')
            .filter((l) => l.split(' ')[4] === mnt).length,
          1,
        );
      });
      assert.match(readFileSync(logFile, 'utf8'), /unmounted/);

      // As xfstests and mount.fuse3 spell it: a label for a source, the directory in source=.
      const t = run('mount', ['-t', 'fuse.interposer', '-o', `source=${backing},allow_other,default_permissions`, 'scratch-1', mnt]);
      assert.equal(t.status, 0, t.stderr);
      await withMounted(mnt, () => {
        assert.equal(shown(mnt).source, 'scratch-1');
        assert.ok(shown(mnt).options.includes('allow_other'));
        assert.deepEqual(readdirSync(mnt).sort(), ['hello', 'new', 'tool']);
        readFileSync(join(mnt, 'hello'));
        assert.ok(statSync(join(backing, 'hello')).atimeMs > OLD * 1000, 'without noatime, the backing relatime updates it');
      });

      const bad = run('mount', ['-t', 'fuse.interposer', '-o', 'noexec,sudi', backing, mnt]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /mount option sudi is not known; expected config=, backend=/);
      assert.equal(isMounted(mnt), false);
      assert.deepEqual(daemonsOf(mnt), []);
    }),
  );
});
