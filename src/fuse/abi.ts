// Constants and struct sizes of the Linux FUSE kernel ABI (include/uapi/linux/fuse.h,
// protocol 7.45). Names follow the kernel header so they can be looked up there.

export const FUSE_KERNEL_VERSION = 7;
/** The highest minor we speak; INIT replies min(this, kernel's). */
export const FUSE_KERNEL_MINOR_VERSION = 45;
export const FUSE_ROOT_ID = 1;

export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
  COPY_FILE_RANGE_64: 53,
} as const;
export type OpName = keyof typeof Op;

const names: string[] = [];
for (const [name, code] of Object.entries(Op)) names[code] = name.toLowerCase();
/** Lower-case opcode name for logs and metrics; 'opcode_N' for unknown ones. */
export function opName(opcode: number): string {
  return names[opcode] ?? `opcode_${opcode}`;
}

// INIT flags, as bit numbers in the 64-bit set (flags | flags2 << 32).
export const InitFlag = {
  ASYNC_READ: 0,
  POSIX_LOCKS: 1,
  ATOMIC_O_TRUNC: 3,
  EXPORT_SUPPORT: 4,
  BIG_WRITES: 5,
  DONT_MASK: 6,
  SPLICE_WRITE: 7,
  SPLICE_MOVE: 8,
  SPLICE_READ: 9,
  FLOCK_LOCKS: 10,
  HAS_IOCTL_DIR: 11,
  AUTO_INVAL_DATA: 12,
  DO_READDIRPLUS: 13,
  READDIRPLUS_AUTO: 14,
  ASYNC_DIO: 15,
  WRITEBACK_CACHE: 16,
  NO_OPEN_SUPPORT: 17,
  PARALLEL_DIROPS: 18,
  HANDLE_KILLPRIV: 19,
  POSIX_ACL: 20,
  ABORT_ERROR: 21,
  MAX_PAGES: 22,
  CACHE_SYMLINKS: 23,
  NO_OPENDIR_SUPPORT: 24,
  EXPLICIT_INVAL_DATA: 25,
  HANDLE_KILLPRIV_V2: 28,
  SETXATTR_EXT: 29,
  INIT_EXT: 30,
  SECURITY_CTX: 32,
  CREATE_SUPP_GROUP: 34,
  DIRECT_IO_ALLOW_MMAP: 36,
  PASSTHROUGH: 37,
  NO_EXPORT_SUPPORT: 38,
  HAS_RESEND: 39,
  ALLOW_IDMAP: 40,
  OVER_IO_URING: 41,
  REQUEST_TIMEOUT: 42,
} as const;

// fuse_open_out.open_flags
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NONSEEKABLE = 1 << 2;
export const FOPEN_CACHE_DIR = 1 << 3;
export const FOPEN_STREAM = 1 << 4;
export const FOPEN_NOFLUSH = 1 << 5;
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;
export const FOPEN_PASSTHROUGH = 1 << 7;

// fuse_setattr_in.valid
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;
export const FATTR_ATIME = 1 << 4;
export const FATTR_MTIME = 1 << 5;
export const FATTR_FH = 1 << 6;
export const FATTR_ATIME_NOW = 1 << 7;
export const FATTR_MTIME_NOW = 1 << 8;
export const FATTR_LOCKOWNER = 1 << 9;
export const FATTR_CTIME = 1 << 10;
export const FATTR_KILL_SUIDGID = 1 << 11;

// fuse_write_in.write_flags, fuse_open_in/fuse_create_in.open_flags: with HANDLE_KILLPRIV_V2, the
// caller lacks CAP_FSETID, so the server must clear setuid/setgid (see vfs/set-id.ts).
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2;
// fuse_write_in.write_flags: the kernel writing back pages of its cache (a shared mapping's, or any
// with writebackCache), not a write(2) that waits for this reply.
export const FUSE_WRITE_CACHE = 1 << 0;
export const FUSE_OPEN_KILL_SUIDGID = 1 << 0;

export const FUSE_GETATTR_FH = 1 << 0;
// fuse_setxattr_in.setxattr_flags (FUSE_SETXATTR_EXT): an access ACL set by a caller who may not keep
// the setgid bit (not in the file's group, no CAP_FSETID), which the server must then clear.
export const FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0;
export const FUSE_FSYNC_FDATASYNC = 1 << 0;
/** Interrupt requests carry this bit in their unique id. */
export const FUSE_INT_REQ_BIT = 1;

// Sizes of the structs we read and write.
export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 128;
export const ATTR_OUT_SIZE = 104;
export const OPEN_OUT_SIZE = 16;
export const WRITE_OUT_SIZE = 8;
export const STATFS_OUT_SIZE = 80;
export const INIT_IN_SIZE = 64;
export const INIT_OUT_SIZE = 64;
export const GETXATTR_OUT_SIZE = 8;
export const LSEEK_OUT_SIZE = 8;
export const DIRENT_SIZE = 24;
export const DIRENTPLUS_SIZE = ENTRY_OUT_SIZE + DIRENT_SIZE;
/** The kernel refuses read buffers smaller than this. */
export const FUSE_MIN_READ_BUFFER = 8192;

// /dev/fuse ioctls (x86-64 and arm64 encodings).
export const FUSE_DEV_IOC_CLONE = 0x8004e500;
export const FUSE_DEV_IOC_BACKING_OPEN = 0x4010e501;
export const FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502;
