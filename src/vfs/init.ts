// INIT negotiation: which protocol minor and features this connection uses.
import { readFileSync } from 'node:fs';
import { FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, InitFlag } from '../fuse/abi.ts';
import { initOut, type Reply } from '../fuse/replies.ts';
import type { InitIn } from '../fuse/requests.ts';
import { EPROTO } from './errors.ts';
import * as sys from '../sys/libc.ts';

export interface InitSettings {
  /** Largest WRITE (and READ) request, in bytes; capped by the kernel's page limit. */
  maxWrite: number;
  /** Ask for kernel passthrough of file data (root only, Linux 6.9+). */
  kernelPassthrough: boolean;
  /** Let the kernel buffer writes and send them later (WRITEBACK_CACHE). */
  writebackCache: boolean;
  /** Requests the kernel may have in flight in the background (readahead, async I/O). */
  maxBackground: number;
  /** Ask for FUSE over io_uring when the kernel offers it (fuse module parameter enable_uring). */
  ioUring: boolean;
}

export interface Negotiated {
  reply: Reply;
  minor: number;
  maxWrite: number;
  passthrough: boolean;
  /** Whether the kernel keeps written pages and writes them back itself (FUSE_WRITEBACK_CACHE). */
  writebackCache: boolean;
  /** Bytes each io_uring payload buffer must hold; 0 when the connection does not use io_uring. */
  ringPayload: number;
  /** SETXATTR comes with the extended struct (FUSE_SETXATTR_EXT): requests.ts setxattrExt. */
  setxattrExt: boolean;
}

const bit = (n: number): bigint => 1n << BigInt(n);
const PAGE = 4096;

function maxPagesLimit(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/fuse/max_pages_limit', 'utf8').trim()) || 256;
  } catch {
    return 32;
  }
}

/**
 * Features we always want when the kernel offers them. Not ATOMIC_O_TRUNC: with it the kernel
 * passes O_TRUNC inside OPEN and checks ETXTBSY only afterwards, so open(O_RDONLY|O_TRUNC) of a
 * running program would empty the file and then fail. Without it the kernel checks first and
 * sends the truncation as a SETATTR (one more round trip for truncating opens of existing files).
 * HANDLE_KILLPRIV_V2: we clear setuid/setgid on write, truncate and chown (vfs/set-id.ts), so the
 * superblock becomes SB_NOSEC: the kernel stops asking for security.capability before every write
 * (a GETXATTR round trip each: 39 % of the requests of a sqlite run) and for the attributes before
 * every chown.
 * Not AUTO_INVAL_DATA: with it the kernel drops a file's cached pages whenever a new mtime
 * reaches it, and without a writeback cache it learns every mtime from us, so each write through
 * the mount followed by a read or stat of the file cost the whole file's cached pages (sqlite
 * re-read its header every transaction; a 4-job random read/write mix lost the cache after every
 * write). The bridge drops them itself when a file changed beside the mount (Node.changedElsewhere).
 * POSIX_ACL: without it the kernel checks permissions by the mode bits alone, while the daemon (root)
 * acts for the caller, so an ACL entry that denies a user (user:nobody:---) denied nothing through the
 * mount. With it the kernel asks for a file's ACL (a GETXATTR, cached per inode) when someone other
 * than the owner needs access through the group bits, and enforces it as a native filesystem does.
 * DONT_MASK: without it the kernel takes the caller's umask off every new node's mode itself, also
 * where the parent directory has a default ACL, which natively replaces the umask: under `umask 077`
 * a file made in a directory whose default ACL grants the group read lost that read. With it the mode
 * comes as asked and the umask beside it (OpContext.umask), for the backend to apply as natively.
 * SETXATTR_EXT: without it the kernel cannot say that a caller setting an access ACL may not keep the
 * setgid bit; the daemon, root, kept it (xfstests generic/375). With it the bridge clears it then.
 * DIRECT_IO_ALLOW_MMAP: without it a shared mmap of a file opened with FOPEN_DIRECT_IO (every file
 * under `cache: direct`) fails with ENODEV, so sqlite, LMDB and anything else that maps its files
 * would not run while observed; with it the mapping goes through the page cache (its faults and
 * writeback still reach the daemon as READs and WRITEs) and direct writes invalidate it.
 */
const WANTED =
  bit(InitFlag.ASYNC_READ) |
  bit(InitFlag.BIG_WRITES) |
  bit(InitFlag.DO_READDIRPLUS) |
  bit(InitFlag.READDIRPLUS_AUTO) |
  bit(InitFlag.ASYNC_DIO) |
  bit(InitFlag.PARALLEL_DIROPS) |
  bit(InitFlag.ABORT_ERROR) |
  bit(InitFlag.MAX_PAGES) |
  bit(InitFlag.CACHE_SYMLINKS) |
  bit(InitFlag.INIT_EXT) |
  bit(InitFlag.HANDLE_KILLPRIV_V2) |
  bit(InitFlag.POSIX_ACL) |
  bit(InitFlag.DONT_MASK) |
  bit(InitFlag.SETXATTR_EXT) |
  bit(InitFlag.DIRECT_IO_ALLOW_MMAP);

export function negotiateInit(req: InitIn, s: InitSettings): Negotiated {
  if (req.major < FUSE_KERNEL_VERSION)
    return { reply: EPROTO, minor: 0, maxWrite: 0, passthrough: false, writebackCache: false, ringPayload: 0, setxattrExt: false };
  const minor = req.major > FUSE_KERNEL_VERSION ? FUSE_KERNEL_MINOR_VERSION : Math.min(req.minor, FUSE_KERNEL_MINOR_VERSION);
  let wanted = WANTED;
  if (s.writebackCache) wanted |= bit(InitFlag.WRITEBACK_CACHE);
  // Passthrough needs CAP_SYS_ADMIN and conflicts with the writeback cache.
  const passthrough = s.kernelPassthrough && !s.writebackCache && sys.geteuid() === 0 && (req.flags & bit(InitFlag.PASSTHROUGH)) !== 0n;
  if (passthrough) wanted |= bit(InitFlag.PASSTHROUGH);
  // The kernel offers it only when its enable_uring parameter is on; it needs minor 42 or later.
  const ioUring = s.ioUring && minor >= 42 && (req.flags & bit(InitFlag.OVER_IO_URING)) !== 0n;
  if (ioUring) wanted |= bit(InitFlag.OVER_IO_URING);
  const maxPages = Math.max(1, Math.min(maxPagesLimit(), Math.ceil(s.maxWrite / PAGE)));
  const maxWrite = Math.max(PAGE, Math.min(s.maxWrite, maxPages * PAGE));
  const reply = initOut({
    major: FUSE_KERNEL_VERSION,
    minor,
    maxReadahead: req.maxReadahead,
    flags: req.flags & wanted,
    maxBackground: s.maxBackground,
    congestionThreshold: Math.floor((s.maxBackground * 3) / 4),
    maxWrite,
    timeGran: 1,
    maxPages,
    maxStackDepth: passthrough ? 1 : 0,
  });
  // fuse_uring_create(): max(FUSE_MIN_READ_BUFFER, max_write, max_pages * PAGE_SIZE).
  const ringPayload = ioUring ? Math.max(8192, maxWrite, maxPages * PAGE) : 0;
  const writebackCache = (req.flags & wanted & bit(InitFlag.WRITEBACK_CACHE)) !== 0n;
  const setxattrExt = (req.flags & wanted & bit(InitFlag.SETXATTR_EXT)) !== 0n;
  return { reply, minor, maxWrite, passthrough, writebackCache, ringPayload, setxattrExt };
}
