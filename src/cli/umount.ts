import { endProcess } from './end-process.ts';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { controlSocketFor } from '../control/socket-path.ts';
import { findMount, unmountPath } from '../fuse/mount.ts';

/**
 * Removes the control socket of a daemon that died (nothing listens on it any more); a live daemon
 * removes its own as it exits, and one still listening is left to do so.
 */
function removeDeadSocket(socket: string): Promise<void> {
  return new Promise((done) => {
    const probe = connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      done();
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') rmSync(socket, { force: true });
      done();
    });
  });
}

export async function umountCommand(mountpoint: string, opts: { lazy?: boolean }): Promise<void> {
  const path = resolve(mountpoint);
  const m = findMount(path);
  if (!m) {
    process.stderr.write(`interposer: nothing is mounted on ${path}\n`);
    endProcess(1);
  }
  if (!m.fstype.startsWith('fuse')) {
    process.stderr.write(`interposer: ${path} is a ${m.fstype} mount, not a FUSE one; refusing to unmount it\n`);
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
  await removeDeadSocket(controlSocketFor(path));
}
