// Mounting and unmounting a FUSE connection: mount(2) as root, fusermount3 otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { constants as fsc, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as sys from '../sys/libc.ts';
import { receiveFd, socketpair } from '../sys/socket.ts';
import { errnoName } from '../vfs/errors.ts';

export interface MountOptions {
  mountpoint: string;
  /** Shown as the source in /proc/mounts, e.g. 'interposer:memory'. */
  fsname: string;
  allowOther?: boolean;
  readOnly?: boolean;
  /** Let the kernel check permissions from the attributes we return (default true). */
  defaultPermissions?: boolean;
  /** Largest READ the kernel may send, in bytes. */
  maxRead?: number;
  /** Further mount flags by name, as mount(8) spells them: noexec, noatime, ... (KERNEL_MOUNT_FLAGS). */
  flags?: readonly KernelMountFlag[];
}

/**
 * The generic mount flags a FUSE mount may carry besides nosuid, nodev and ro, which are always set
 * or have their own option. fusermount3 takes them by name, the ones it knows (Debian 12's: noexec,
 * noatime, sync and dirsync; it names the others it refuses).
 */
export const KERNEL_MOUNT_FLAGS = {
  noexec: sys.MS_NOEXEC,
  sync: sys.MS_SYNCHRONOUS,
  dirsync: sys.MS_DIRSYNC,
  noatime: sys.MS_NOATIME,
  nodiratime: sys.MS_NODIRATIME,
  relatime: sys.MS_RELATIME,
  strictatime: sys.MS_STRICTATIME,
  lazytime: sys.MS_LAZYTIME,
} as const;

export type KernelMountFlag = keyof typeof KERNEL_MOUNT_FLAGS;

export function isKernelMountFlag(word: string): word is KernelMountFlag {
  return Object.hasOwn(KERNEL_MOUNT_FLAGS, word);
}

export interface Mounted {
  fd: number;
  mountpoint: string;
  /** How it was mounted, which decides how it is unmounted. */
  via: 'mount(2)' | 'fusermount3';
}

export const FS_TYPE = 'fuse.interposer';

export class MountError extends Error {
  override name = 'MountError';
}

export interface MountInfo {
  mountpoint: string;
  fstype: string;
  source: string;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mounts listed in /proc/self/mountinfo (read, never stat: a dead FUSE mount hangs stat). */
export function readMountInfo(): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0) continue;
    out.push({ mountpoint: unescape(fields[4]), fstype: fields[dash + 1], source: unescape(fields[dash + 2]) });
  }
  return out;
}

export function findMount(mountpoint: string): MountInfo | undefined {
  const path = resolve(mountpoint);
  return readMountInfo().findLast((m) => m.mountpoint === path);
}

function hasFusermount(): boolean {
  return spawnSync('fusermount3', ['-V'], { stdio: 'ignore' }).status === 0;
}

/**
 * Checks the mountpoint before mounting: it must be a directory, and a FUSE
 * mount left there by a daemon that died is detached. A live mount is an error.
 */
export async function prepareMountpoint(mountpoint: string): Promise<void> {
  const path = resolve(mountpoint);
  const existing = findMount(path);
  if (existing && existing.fstype.startsWith('fuse')) {
    const alive = await Promise.race([
      stat(path).then(
        () => true,
        (err: NodeJS.ErrnoException) => err.code !== 'ENOTCONN' && err.code !== 'ECONNABORTED',
      ),
      new Promise<boolean>((r) => setTimeout(() => r(true), 2000).unref()),
    ]);
    if (alive) {
      throw new MountError(
        `${path} is busy: ${existing.source} (${existing.fstype}) is already mounted there; ` +
          `unmount it first with: ${existing.fstype === FS_TYPE ? 'interposer umount' : 'fusermount3 -u'} ${path}`,
      );
    }
    unmountPath(path, true);
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new MountError(`mountpoint ${path} does not exist; create it with: mkdir -p ${path}`);
  }
  if (!st.isDirectory()) throw new MountError(`mountpoint ${path} is not a directory; give an empty directory`);
}

/**
 * Whether `path` lies inside directory `dir`: `dir` is the directory holding it, or one above that.
 * Compared by device and inode, so symlinks and bind mounts count too. Only `path`'s parents (the
 * nearest that exists and those above it) are looked at, never `path` itself, which may be a mount
 * this process serves and must not wait for.
 */
export function insideDir(dir: string, path: string): boolean {
  const target = statSync(dir, { throwIfNoEntry: false });
  if (!target) return false;
  let up = dirname(resolve(path));
  while (!existsSync(up)) up = dirname(up);
  up = realpathSync(up);
  for (;;) {
    const st = statSync(up, { throwIfNoEntry: false });
    if (st && st.dev === target.dev && st.ino === target.ino) return true;
    if (up === '/') return false;
    up = dirname(up);
  }
}

/**
 * Refuses a mountpoint inside the directory a mount mirrors: walking into it, the daemon would reach its
 * own mount and wait for itself forever (in uninterruptible sleep, with every process that touches the
 * mount). The directory itself is fine: the daemon holds it open from before the mount and never walks
 * into it.
 */
export function refuseMountBeneath(backingDir: string, mountpoint: string): void {
  if (insideDir(backingDir, mountpoint)) {
    throw new MountError(
      `mountpoint ${resolve(mountpoint)} is inside the directory it would mirror, ${backingDir}: the daemon would reach ` +
        'its own mount through it and hang; mount outside that directory, or on the directory itself to interpose it in place',
    );
  }
}

/**
 * Refuses a file the daemon writes by name (`what`: its trace file, its control socket) inside the
 * mountpoint: writing it, the daemon would wait for its own mount to answer. Only between
 * prepareMountpoint and mounting: it looks at the mountpoint.
 */
export function refuseInsideMount(mountpoint: string, file: string, what: string): void {
  if (insideDir(mountpoint, file)) {
    throw new MountError(
      `${what} ${resolve(file)} is inside the mountpoint ${resolve(mountpoint)}: the daemon would wait for its own ` +
        'mount to write it; put it outside the mountpoint',
    );
  }
}

/** Opens /dev/fuse and mounts it on `options.mountpoint`. */
export async function mountFuse(options: MountOptions): Promise<Mounted> {
  const mountpoint = resolve(options.mountpoint);
  const root = sys.geteuid() === 0;
  if (root) return mountDirect(options, mountpoint);
  if (!hasFusermount()) {
    throw new MountError(
      'not running as root and fusermount3 is not installed: run as root, or install the fuse3 package (apt-get install fuse3)',
    );
  }
  return mountWithFusermount(options, mountpoint);
}

function openDevFuse(): number {
  const fd = sys.open('/dev/fuse', fsc.O_RDWR | fsc.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
  if (fd < 0) {
    const why = errnoName(-fd);
    throw new MountError(
      why === 'ENOENT'
        ? '/dev/fuse does not exist: load the fuse module (modprobe fuse) or, in a container, pass --device /dev/fuse'
        : `cannot open /dev/fuse (${why}): it needs read/write access; run as root or check its permissions`,
    );
  }
  return fd;
}

function mountDirect(options: MountOptions, mountpoint: string): Mounted {
  const fd = openDevFuse();
  const data = [`fd=${fd}`, 'rootmode=40000', `user_id=${sys.geteuid()}`, `group_id=${sys.getegid()}`];
  if (options.defaultPermissions !== false) data.push('default_permissions');
  if (options.allowOther) data.push('allow_other');
  if (options.maxRead) data.push(`max_read=${options.maxRead}`);
  let flags = sys.MS_NOSUID | sys.MS_NODEV | (options.readOnly ? sys.MS_RDONLY : 0);
  for (const name of options.flags ?? []) flags |= KERNEL_MOUNT_FLAGS[name];
  const r = sys.mount(options.fsname, mountpoint, FS_TYPE, flags, data.join(','));
  if (r < 0) {
    sys.close(fd);
    throw new MountError(`mount(2) of ${mountpoint} failed: ${errnoName(-r)}`);
  }
  return { fd, mountpoint, via: 'mount(2)' };
}

async function mountWithFusermount(options: MountOptions, mountpoint: string): Promise<Mounted> {
  const pair = socketpair();
  if (typeof pair === 'number') throw new MountError(`socketpair failed: ${errnoName(-pair)}`);
  const [ours, theirs] = pair;
  const opts = ['nosuid', 'nodev', `fsname=${options.fsname}`, 'subtype=interposer', 'auto_unmount'];
  opts.push(options.readOnly ? 'ro' : 'rw');
  if (options.defaultPermissions !== false) opts.push('default_permissions');
  if (options.allowOther) opts.push('allow_other');
  if (options.maxRead) opts.push(`max_read=${options.maxRead}`);
  opts.push(...(options.flags ?? []));
  // With auto_unmount, fusermount3 stays behind and unmounts when our fd closes:
  // a daemon that dies leaves no dead mount.
  const child = spawn('fusermount3', ['-o', opts.join(','), '--', mountpoint], {
    stdio: ['ignore', 'ignore', 'pipe', theirs],
    env: { ...process.env, _FUSE_COMMFD: '3' },
    detached: false,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  sys.close(theirs);
  const fd = receiveFd(ours);
  sys.close(ours);
  if (fd <= 0) {
    await new Promise((r) => (child.exitCode === null ? child.once('close', r) : r(null)));
    throw new MountError(`fusermount3 could not mount ${mountpoint}: ${stderr.trim() || 'no file descriptor received'}`);
  }
  child.unref();
  sys.fcntl(fd, sys.F_SETFL, sys.fcntl(fd, sys.F_GETFL) | fsc.O_NONBLOCK);
  sys.fcntl(fd, sys.F_SETFD, sys.FD_CLOEXEC);
  return { fd, mountpoint, via: 'fusermount3' };
}

/**
 * Changes the mount flags of the interposer mount on `mountpoint` (mount(2) MS_REMOUNT, as root):
 * read-only or not, and `flags`; nosuid and nodev stay. The daemon serves on as it was.
 */
export function remount(mountpoint: string, readOnly: boolean, flags: readonly KernelMountFlag[]): void {
  const path = resolve(mountpoint);
  const m = findMount(path);
  if (!m) throw new MountError(`nothing is mounted on ${path} to remount`);
  if (m.fstype !== FS_TYPE) throw new MountError(`${path} is a ${m.fstype} mount, not an interposer one; refusing to remount it`);
  if (sys.geteuid() !== 0) throw new MountError('remounting needs root (fusermount3 cannot remount)');
  let bits = sys.MS_REMOUNT | sys.MS_NOSUID | sys.MS_NODEV | (readOnly ? sys.MS_RDONLY : 0);
  for (const name of flags) bits |= KERNEL_MOUNT_FLAGS[name];
  const r = sys.mount(m.source, path, FS_TYPE, bits, '');
  if (r < 0) throw new MountError(`remounting ${path} failed: ${errnoName(-r)}`);
}

/**
 * Unmounts `mountpoint`. `lazy` detaches even while files are open (used on
 * SIGTERM and for stale mounts). Returns an error message, or null on success.
 */
export function unmountPath(mountpoint: string, lazy: boolean): string | null {
  const path = resolve(mountpoint);
  if (sys.geteuid() === 0) {
    const r = sys.umount2(path, (lazy ? sys.MNT_DETACH : 0) | sys.UMOUNT_NOFOLLOW);
    return r < 0 ? `umount ${path}: ${errnoName(-r)}` : null;
  }
  const res = spawnSync('fusermount3', lazy ? ['-u', '-z', '--', path] : ['-u', '--', path], { encoding: 'utf8' });
  return res.status === 0 ? null : `fusermount3 -u ${path}: ${(res.stderr ?? '').trim() || `exit ${res.status}`}`;
}
