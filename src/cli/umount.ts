import { endProcess } from './end-process.ts';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { controlSocketFor, deadSocket } from '../control/socket-path.ts';
import { findMount, FS_TYPE, unmountPath } from '../fuse/mount.ts';

export async function umountCommand(mountpoint: string, opts: { lazy?: boolean }): Promise<void> {
  const path = resolve(mountpoint);
  const m = findMount(path);
  if (!m) {
    process.stderr.write(`interposer: nothing is mounted on ${path}\n`);
    endProcess(1);
  }
  if (m.fstype !== FS_TYPE) {
    process.stderr.write(`interposer: ${path} is a ${m.fstype} mount, not an interposer one; refusing to unmount it\n`);
    endProcess(1);
  }
  let err = unmountPath(path, opts.lazy ?? false);
  if (err && /EBUSY|busy/.test(err) && !opts.lazy) {
    process.stderr.write(`interposer: ${path} is busy (files open or a process inside it); use --lazy to detach it anyway\n`);
    endProcess(1);
  }
  // A mount whose daemon died refuses a plain unmount on some kernels; detach it.
  if (err) err = unmountPath(path, true);
  if (err) {
    process.stderr.write(`interposer: ${err}\n`);
    endProcess(1);
  }
  // The socket of a daemon that died; a live daemon removes its own as it exits.
  const socket = controlSocketFor(path);
  if (await deadSocket(socket)) rmSync(socket, { force: true });
}
