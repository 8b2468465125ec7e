// The filesystem under test. By default a fresh ext4 with a journal (mkfs
// defaults) in an image file on the disk that holds the benchmark directory,
// attached with a direct-I/O loop device so its data is not cached twice.
// Why not the host filesystem itself: on a journal-less ext4 (as the root of
// these VMs is), the kernel skips inodes deleted in the last 60 s when it
// allocates new ones (fs/ext4/ialloc.c, recently_deleted), reading an inode
// table block for each, so creating files after a mass delete costs up to a
// millisecond of CPU each and creates swing 20× with what ran the minute
// before. --host-fs measures the host filesystem anyway.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, isMounted, run } from './exec.ts';

export interface Disk {
  /** Where the native directory lives. */
  dir: string;
  describe: string;
  release(): Promise<void>;
  /** Synchronous, for 'exit' handlers. */
  releaseSync(): void;
}

export async function hostDisk(root: string): Promise<Disk> {
  return { dir: root, describe: 'the host filesystem itself (--host-fs)', release: async () => {}, releaseSync: () => {} };
}

export async function imageDisk(root: string, bytes: number): Promise<Disk> {
  const image = join(root, 'ext4.img');
  const mnt = join(root, 'ext4');
  mkdirSync(mnt);
  await check('truncate', ['-s', String(bytes), image]);
  // Inode tables and journal written now, not by a background thread during the run.
  await check('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0,nodiscard', image]);
  const loop = (await check('losetup', ['--find', '--show', '--direct-io=on', image])).stdout.trim();
  let mounted = false;
  const releaseSync = (): void => {
    if (isMounted(mnt)) spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
    spawnSync('losetup', ['-d', loop], { stdio: 'ignore' });
  };
  try {
    await check('mount', ['-t', 'ext4', loop, mnt]);
    mounted = true;
  } finally {
    if (!mounted) releaseSync();
  }
  return {
    dir: mnt,
    describe: `a fresh ext4 (mkfs.ext4 defaults: journal, data=ordered) of ${(bytes / 1024 ** 3).toFixed(1)} GiB in an image file on that disk, via ${loop} with direct I/O`,
    async release() {
      const r = await run('umount', [mnt]);
      if (r.code !== 0) await run('umount', ['-l', mnt]);
      await run('losetup', ['-d', loop]);
    },
    releaseSync,
  };
}
