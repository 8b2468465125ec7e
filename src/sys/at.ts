// The *at family and friends: everything a backend needs to work strictly
// beneath one directory fd. Like libc.ts, every wrapper returns the raw result
// or a negative errno, and the hot ones fill shared buffers instead of
// allocating (the daemon calls these on one thread, synchronously).
import { splitTime } from '../vfs/time.ts';
import { constants as fsc } from 'node:fs';
import { libc, koffi, ret } from './libc.ts';
import * as le from '../util/le.ts';
import { cName, decodeName } from '../util/byte-names.ts';

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EMPTY_PATH = 0x1000;

// Node's fs.constants carry the per-architecture values (arm64 differs from
// x86_64 for O_DIRECTORY/O_NOFOLLOW/O_DIRECT); O_PATH and O_CLOEXEC are the
// same on both and Node does not export them.
export const O_RDONLY = fsc.O_RDONLY;
export const O_WRONLY = fsc.O_WRONLY;
export const O_RDWR = fsc.O_RDWR;
export const O_ACCMODE = 3;
export const O_CREAT = fsc.O_CREAT;
export const O_EXCL = fsc.O_EXCL;
export const O_NOCTTY = fsc.O_NOCTTY;
export const O_TRUNC = fsc.O_TRUNC;
export const O_APPEND = fsc.O_APPEND;
export const O_NONBLOCK = fsc.O_NONBLOCK;
export const O_DSYNC = fsc.O_DSYNC;
export const O_SYNC = fsc.O_SYNC;
export const O_DIRECT = fsc.O_DIRECT ?? 0;
export const O_NOATIME = fsc.O_NOATIME ?? 0;
export const O_DIRECTORY = fsc.O_DIRECTORY;
export const O_NOFOLLOW = fsc.O_NOFOLLOW;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export const SEEK_SET = 0;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

const ENOSYS = 38;
const EOPNOTSUPP = 95;
const E2BIG = 7;

// Syscall numbers from 424 on are shared by every architecture.
const NR_OPENAT2 = 437;
const NR_CACHESTAT = 451;
const NR_FCHMODAT2 = 452;
const NR_SETXATTRAT = 463;
const NR_GETXATTRAT = 464;
const NR_LISTXATTRAT = 465;
const NR_REMOVEXATTRAT = 466;

// syscall(2) is variadic, but on x86_64 and arm64 Linux integer and pointer
// varargs travel exactly like fixed ones, so fixed prototypes per shape avoid
// koffi's slower per-call variadic type parsing.
const sysOpenat2 = libc.func('long syscall(long nr, int dirfd, const char *path, void *how, size_t size)');
const sysFchmodat2 = libc.func('long syscall(long nr, int dirfd, const char *path, uint32_t mode, int flags)');
const sysXattrArgs = libc.func(
  'long syscall(long nr, int dirfd, const char *path, uint32_t atflags, const char *name, void *args, size_t size)',
);
const sysListxattrat = libc.func('long syscall(long nr, int dirfd, const char *path, uint32_t atflags, void *list, size_t size)');
const sysCachestat = libc.func('long syscall(long nr, int fd, void *range, void *cstat, uint32_t flags)');
const sysRemovexattrat = libc.func('long syscall(long nr, int dirfd, const char *path, uint32_t atflags, const char *name)');

const cStatx = libc.func('int statx(int dirfd, const char *path, int flags, uint32_t mask, void *buf)');
const cMkdirat = libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)');
const cMknodat = libc.func('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)');
const cUnlinkat = libc.func('int unlinkat(int dirfd, const char *path, int flags)');
const cRenameat2 = libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, uint32_t flags)');
const cLinkat = libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)');
const cSymlinkat = libc.func('int symlinkat(const char *target, int dirfd, const char *path)');
const cReadlinkat = libc.func('long readlinkat(int dirfd, const char *path, void *buf, size_t size)');
const cFchownat = libc.func('int fchownat(int dirfd, const char *path, int uid, int gid, int flags)');
const cFchmodat = libc.func('int fchmodat(int dirfd, const char *path, uint32_t mode, int flags)');
const cFchmod = libc.func('int fchmod(int fd, uint32_t mode)');
const cFtruncate = libc.func('int ftruncate(int fd, int64_t length)');
const cUtimensat = libc.func('int utimensat(int dirfd, const char *path, void *times, int flags)');
const cFutimens = libc.func('int futimens(int fd, void *times)');
const cGetdents64 = libc.func('long getdents64(int fd, void *buf, size_t size)');
const cLseek = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const cFstatfs = libc.func('int fstatfs(int fd, void *buf)');
const cFallocate = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
const cCopyFileRange = libc.func('long copy_file_range(int fdIn, void *offIn, int fdOut, void *offOut, size_t len, uint32_t flags)');
const cDup = libc.func('int dup(int fd)');
const cGetxattr = libc.func('long getxattr(const char *path, const char *name, void *value, size_t size)');
const cSetxattr = libc.func('int setxattr(const char *path, const char *name, void *value, size_t size, int flags)');
const cListxattr = libc.func('long listxattr(const char *path, void *list, size_t size)');
const cRemovexattr = libc.func('int removexattr(const char *path, const char *name)');
const cClose = libc.func('int close(int fd)');
const cFadvise = libc.func('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)');

// The upper halves of open_how stay zero: flags, mode and resolve fit in 32 bits.
const how = Buffer.alloc(24);
/** openat2(2): struct open_how {u64 flags; u64 mode; u64 resolve}. */
export function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
  how.writeUInt32LE(flags >>> 0, 0);
  how.writeUInt32LE(mode >>> 0, 8);
  how.writeUInt32LE(resolve >>> 0, 16);
  return ret(sysOpenat2(NR_OPENAT2, dirfd, cName(path), how, 24));
}

export const STATX_BASIC_STATS = 0x7ff;
/**
 * Filled by statx(). Layout (linux/stat.h): mask u32@0, blksize u32@4,
 * nlink u32@16, uid u32@20, gid u32@24, mode u16@28, ino u64@32, size u64@40,
 * blocks u64@48, timestamps {i64 sec, u32 nsec} atime@64 btime@80 ctime@96
 * mtime@112, rdev major u32@128 minor u32@132.
 */
export const statxBuf = Buffer.alloc(256);
export function statx(dirfd: number, path: string, flags: number, mask = STATX_BASIC_STATS): number {
  return ret(cStatx(dirfd, cName(path), flags, mask, statxBuf));
}

export const POSIX_FADV_WILLNEED = 3;
/** posix_fadvise(2): 0 or -errno (the call returns its error number instead of setting errno). */
export function fadvise(fd: number, offset: number, len: number, advice: number): number {
  return -cFadvise(fd, offset, len, advice);
}

export function mkdirat(dirfd: number, path: string, mode: number): number {
  return ret(cMkdirat(dirfd, cName(path), mode));
}

export function mknodat(dirfd: number, path: string, mode: number, dev: number): number {
  return ret(cMknodat(dirfd, cName(path), mode, dev));
}

export function unlinkat(dirfd: number, path: string, flags: number): number {
  return ret(cUnlinkat(dirfd, cName(path), flags));
}

export function renameat2(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): number {
  return ret(cRenameat2(olddirfd, cName(oldpath), newdirfd, cName(newpath), flags));
}

export function linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): number {
  return ret(cLinkat(olddirfd, cName(oldpath), newdirfd, cName(newpath), flags));
}

export function symlinkat(target: string, dirfd: number, path: string): number {
  return ret(cSymlinkat(cName(target), dirfd, cName(path)));
}

// PATH_MAX plus one byte, so a target that fills it is seen as truncated.
const linkBuf = Buffer.alloc(4097);
/** readlinkat(2): the target, or -errno. */
export function readlinkat(dirfd: number, path: string): string | number {
  const n = ret(cReadlinkat(dirfd, cName(path), linkBuf, linkBuf.length));
  if (n < 0) return n;
  if (n >= linkBuf.length) return -36; // ENAMETOOLONG
  return decodeName(linkBuf, 0, n);
}

/** uid/gid -1 leave that id unchanged. */
export function fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): number {
  return ret(cFchownat(dirfd, cName(path), uid, gid, flags));
}

let haveFchmodat2 = true;
/** chmod that can refuse to follow a final symlink, without /proc where the kernel allows. */
export function fchmodat(dirfd: number, path: string, mode: number, flags: number): number {
  if (haveFchmodat2) {
    const r = ret(sysFchmodat2(NR_FCHMODAT2, dirfd, cName(path), mode, flags));
    if (r !== -ENOSYS) return r;
    haveFchmodat2 = false;
  }
  // Before Linux 6.6 glibc emulates AT_SYMLINK_NOFOLLOW with an O_PATH fd
  // relative to dirfd and /proc/self/fd, which stays pinned to that inode.
  // It knows no AT_EMPTY_PATH; plain fchmod covers that for non-O_PATH fds.
  if (flags & AT_EMPTY_PATH && path === '') return ret(cFchmod(dirfd, mode));
  return ret(cFchmodat(dirfd, cName(path), mode, flags));
}

export function fchmod(fd: number, mode: number): number {
  return ret(cFchmod(fd, mode));
}

export function ftruncate(fd: number, length: number): number {
  return ret(cFtruncate(fd, length));
}

export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;
/** A time to set: milliseconds since the epoch, 'now', or undefined to leave it. */
export type TimeSpec = number | 'now' | undefined;

const times = Buffer.alloc(32);
function putTime(t: TimeSpec, nsecHint: number | undefined, at: number): void {
  if (t === undefined || t === 'now') {
    le.putU64(times, 0, at);
    le.putU64(times, t === 'now' ? UTIME_NOW : UTIME_OMIT, at + 8);
    return;
  }
  const { sec, nsec } = splitTime(t, nsecHint);
  le.putU64(times, sec, at);
  le.putU64(times, nsec, at + 8);
}

/** utimensat(2), or futimens(3) on dirfd itself when path is null. Nanosecond hints as in vfs/time.ts. */
export function utimensat(
  dirfd: number,
  path: string | null,
  atime: TimeSpec,
  mtime: TimeSpec,
  flags: number,
  atimeNsec?: number,
  mtimeNsec?: number,
): number {
  putTime(atime, atimeNsec, 0);
  putTime(mtime, mtimeNsec, 16);
  return path === null ? ret(cFutimens(dirfd, times)) : ret(cUtimensat(dirfd, cName(path), times, flags));
}

/** linux_dirent64 records: u64 ino, i64 off, u16 reclen, u8 type, name NUL-terminated. */
export function getdents64(fd: number, buf: Buffer): number {
  return ret(cGetdents64(fd, buf, buf.length));
}

/**
 * getdents64 on koffi's worker (libuv's pool); `done` gets the bytes read, or -1 on failure (errno
 * belongs to the worker thread, so the caller that needs it asks again where it can see it).
 */
export function getdents64Async(fd: number, buf: Buffer, done: (n: number) => void): void {
  cGetdents64.async(fd, buf, buf.length, (err: unknown, r: number | bigint) => done(err ? -1 : Number(r) < 0 ? -1 : Number(r)));
}

/** `offset` a bigint where it may pass 2^53 (a directory cookie). */
export function lseek(fd: number, offset: number | bigint, whence: number): number {
  return ret(cLseek(fd, offset, whence));
}

const cPread = libc.func('long pread(int fd, _Out_ uint8_t *buf, size_t count, int64_t offset)');
const cPwrite = libc.func('long pwrite(int fd, const uint8_t *buf, size_t count, int64_t offset)');

/**
 * pread(2) into all of `into`: bytes read or -errno. Not fs.readSync(), whose argument checks and
 * look-up of whether file tracing is on cost ~100 ns more a call (a 4 KiB read 380 against 275 ns).
 */
export function pread(fd: number, into: Buffer, offset: number): number {
  return ret(cPread(fd, into, into.length, offset));
}

/** pwrite(2) of all of `data`: bytes written or -errno. */
export function pwrite(fd: number, data: Buffer, offset: number): number {
  return ret(cPwrite(fd, data, data.length, offset));
}

const cPreadv2 = libc.func('long preadv2(int fd, void *iov, int iovcnt, int64_t offset, int flags)');
const RWF_NOWAIT = 0x08;
const oneIovec = Buffer.alloc(16);

/**
 * pread(2) that only copies what the page cache already holds: the bytes read
 * (fewer than asked when part of the range is not cached, 0 at end of file),
 * -EAGAIN when nothing is, -EOPNOTSUPP where the filesystem cannot promise it.
 * It may start reading what is missing (Linux 6.18 does), without waiting.
 */
export function preadCached(fd: number, into: Buffer, offset: number): number {
  le.putU64(oneIovec, addressOf(into), 0);
  le.putU32(oneIovec, into.length, 8); // the upper half stays 0: a reply is far below 4 GiB
  return ret(cPreadv2(fd, oneIovec, 1, offset, RWF_NOWAIT));
}

/** Where each ArrayBuffer's bytes start: V8 never moves them, and the read path meets the same few pooled buffers. */
const baseAddresses = new WeakMap<ArrayBufferLike, number>();

/**
 * The address of `buf`'s first byte, as a number (exact: user-space addresses are below 2^47). Asking
 * koffi on every read made a BigInt and BigInt arithmetic per request (bench/RESULTS.md item 54).
 */
function addressOf(buf: Buffer): number {
  let base = baseAddresses.get(buf.buffer);
  if (base === undefined) {
    base = Number(koffi.address(buf)) - buf.byteOffset;
    baseAddresses.set(buf.buffer, base);
  }
  return base + buf.byteOffset;
}

/** Filled by fstatfs(): 64-bit struct statfs, every field 8 bytes wide. */
export const statfsBuf = Buffer.alloc(120);
export const STATFS_BSIZE = 8;
export const STATFS_BLOCKS = 16;
export const STATFS_BFREE = 24;
export const STATFS_BAVAIL = 32;
export const STATFS_FILES = 40;
export const STATFS_FFREE = 48;
export const STATFS_NAMELEN = 64;
export const STATFS_FRSIZE = 72;
const cSyncfs = libc.func('int syncfs(int fd)');

/** syncfs(2) on koffi's worker thread: flushing a whole filesystem can take long. */
export function syncfsAsync(fd: number): Promise<number> {
  return new Promise((resolve) => {
    cSyncfs.async(fd, (err: unknown, r: number) => resolve(err ? -5 : r < 0 ? -koffi.errno() : r));
  });
}

// struct cachestat_range {u64 off; u64 len}: all zero is the whole file.
const wholeFile = Buffer.alloc(16);
// struct cachestat: nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted (u64 each).
const cachestatOut = Buffer.alloc(40);

/**
 * Pages of the file that fsync would still have to write: dirty or under
 * writeback (cachestat(2), Linux 6.5+), or -errno (-ENOSYS before 6.5).
 */
export function unsyncedPages(fd: number): number {
  const r = ret(sysCachestat(NR_CACHESTAT, fd, wholeFile, cachestatOut, 0));
  if (r < 0) return r;
  return le.u64(cachestatOut, 8) + le.u64(cachestatOut, 16);
}

export function fstatfs(fd: number): number {
  return ret(cFstatfs(fd, statfsBuf));
}

export function fallocate(fd: number, mode: number, offset: number, length: number): number {
  return ret(cFallocate(fd, mode, offset, length));
}

const offIn = Buffer.alloc(8);
const offOut = Buffer.alloc(8);
/** copy_file_range(2) with explicit offsets, so neither fd's position moves. */
export function copyFileRange(fdIn: number, inOffset: number, fdOut: number, outOffset: number, length: number, flags: number): number {
  le.putU64(offIn, inOffset, 0);
  le.putU64(offOut, outOffset, 0);
  return ret(cCopyFileRange(fdIn, offIn, fdOut, offOut, length, flags));
}

export function dup(fd: number): number {
  return ret(cDup(fd));
}

// --- extended attributes ---------------------------------------------------
// The *xattrat calls (Linux 6.13) take the value through struct xattr_args
// {u64 value pointer; u32 size; u32 flags}, so the value must live at a
// stable native address: one XATTR_SIZE_MAX block, reused.
const XATTR_SIZE_MAX = 65536;
const valuePtr = koffi.alloc('uint8_t', XATTR_SIZE_MAX);
const valueBuf = Buffer.from(koffi.view(valuePtr, XATTR_SIZE_MAX));
const xattrArgs = Buffer.alloc(16);
xattrArgs.writeBigUInt64LE(koffi.address(valuePtr), 0);
const listBuf = Buffer.alloc(XATTR_SIZE_MAX);

let haveXattrat = true;

// Older kernels: pin the inode with an O_PATH fd beneath dirfd and reach it
// through its /proc/self/fd magic link, which cannot be redirected. Symlinks
// are refused because following that link would land on the symlink and then
// follow it again.
function pinned(dirfd: number, path: string, atflags: number): number {
  const nofollow = atflags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0;
  const fd = openat2(dirfd, path, O_PATH | O_CLOEXEC | nofollow, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return fd;
  const r = statx(fd, '', AT_EMPTY_PATH, 1 /* STATX_TYPE */);
  if (r < 0 || (statxBuf.readUInt16LE(28) & 0o170000) === 0o120000) {
    cClose(fd);
    return r < 0 ? r : -EOPNOTSUPP;
  }
  return fd;
}

/**
 * The kernel zeroes a buffer of the size asked for on every getxattr, 64 KiB for XATTR_SIZE_MAX
 * (~2 µs a call here); values are nearly always far smaller, so a page is asked for first and the
 * whole size only when that is too small. The kernel's own security.capability questions before
 * each write and chown come this way, and get ENODATA at either size.
 */
const XATTR_FIRST_TRY = 4096;
const ERANGE = 34;

/** The value into a fresh Buffer, or -errno. */
export function getxattrat(dirfd: number, path: string, atflags: number, name: string): Buffer | number {
  let n = getxattrInto(dirfd, path, atflags, name, XATTR_FIRST_TRY);
  if (n === -ERANGE) n = getxattrInto(dirfd, path, atflags, name, XATTR_SIZE_MAX);
  return n < 0 ? n : Buffer.from(valueBuf.subarray(0, n));
}

/** getxattr of at most `size` bytes into valueBuf: the length, or -errno. */
function getxattrInto(dirfd: number, path: string, atflags: number, name: string, size: number): number {
  if (haveXattrat) {
    xattrArgs.writeUInt32LE(size, 8);
    xattrArgs.writeUInt32LE(0, 12);
    const n = ret(sysXattrArgs(NR_GETXATTRAT, dirfd, cName(path), atflags, cName(name), xattrArgs, 16));
    if (n !== -ENOSYS) return n;
    haveXattrat = false;
  }
  const fd = pinned(dirfd, path, atflags);
  if (fd < 0) return fd;
  const n = ret(cGetxattr(`/proc/self/fd/${fd}`, cName(name), valueBuf, size));
  cClose(fd);
  return n;
}

export function setxattrat(dirfd: number, path: string, atflags: number, name: string, value: Buffer, flags: number): number {
  if (value.length > XATTR_SIZE_MAX) return -E2BIG;
  value.copy(valueBuf, 0);
  if (haveXattrat) {
    xattrArgs.writeUInt32LE(value.length, 8);
    xattrArgs.writeUInt32LE(flags, 12);
    const r = ret(sysXattrArgs(NR_SETXATTRAT, dirfd, cName(path), atflags, cName(name), xattrArgs, 16));
    if (r !== -ENOSYS) return r;
    haveXattrat = false;
  }
  const fd = pinned(dirfd, path, atflags);
  if (fd < 0) return fd;
  const r = ret(cSetxattr(`/proc/self/fd/${fd}`, cName(name), valueBuf, value.length, flags));
  cClose(fd);
  return r;
}

/** The attribute names, or -errno. */
export function listxattrat(dirfd: number, path: string, atflags: number): string[] | number {
  let n = -ENOSYS;
  if (haveXattrat) {
    n = ret(sysListxattrat(NR_LISTXATTRAT, dirfd, cName(path), atflags, listBuf, listBuf.length));
    if (n === -ENOSYS) haveXattrat = false;
  }
  if (!haveXattrat) {
    const fd = pinned(dirfd, path, atflags);
    if (fd < 0) return fd;
    n = ret(cListxattr(`/proc/self/fd/${fd}`, listBuf, listBuf.length));
    cClose(fd);
  }
  if (n < 0) return n;
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (listBuf[i] !== 0) continue;
    if (i > start) names.push(decodeName(listBuf, start, i));
    start = i + 1;
  }
  return names;
}

export function removexattrat(dirfd: number, path: string, atflags: number, name: string): number {
  if (haveXattrat) {
    const r = ret(sysRemovexattrat(NR_REMOVEXATTRAT, dirfd, cName(path), atflags, cName(name)));
    if (r !== -ENOSYS) return r;
    haveXattrat = false;
  }
  const fd = pinned(dirfd, path, atflags);
  if (fd < 0) return fd;
  const r = ret(cRemovexattr(`/proc/self/fd/${fd}`, cName(name)));
  cClose(fd);
  return r;
}
