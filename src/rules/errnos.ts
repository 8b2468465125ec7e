// Which errnos each operation can really return (from the Linux man pages), so
// a fault rule cannot inject an error no application would ever see from that
// call (no ENOTDIR on write), and did-you-mean for misspelt names.
import { E } from '../vfs/errors.ts';
import type { OpName } from '../layers/op.ts';

const ANY = ['EIO', 'EINTR', 'ENOMEM', 'EACCES', 'EPERM'];
const PATH = ['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG'];
const NEW_ENTRY = [...PATH, 'EEXIST', 'ENOSPC', 'EDQUOT', 'EROFS', 'EMLINK'];
const FD_DATA = ['EBADF', 'EINVAL', 'EAGAIN'];
const XATTR = [...PATH, 'ENODATA', 'EOPNOTSUPP', 'ENOTSUP', 'ERANGE', 'E2BIG', 'ENOSPC', 'EDQUOT', 'EEXIST', 'EROFS'];

const BY_OP: Record<OpName, string[]> = {
  getattr: [...PATH, 'EOVERFLOW'],
  setattr: [...PATH, 'EROFS', 'EFBIG', 'EINVAL', 'ETXTBSY', 'EOVERFLOW'],
  readlink: [...PATH, 'EINVAL'],
  mknod: [...NEW_ENTRY, 'EINVAL'],
  mkdir: NEW_ENTRY,
  symlink: NEW_ENTRY,
  link: [...NEW_ENTRY, 'EXDEV'],
  unlink: [...PATH, 'EBUSY', 'EISDIR', 'EROFS'],
  rmdir: [...PATH, 'EBUSY', 'ENOTEMPTY', 'EEXIST', 'EINVAL', 'EROFS'],
  rename: [...PATH, 'EBUSY', 'ENOTEMPTY', 'EEXIST', 'EISDIR', 'EXDEV', 'EINVAL', 'ENOSPC', 'EDQUOT', 'EROFS', 'EMLINK'],
  open: [...PATH, 'EISDIR', 'EMFILE', 'ENFILE', 'ENXIO', 'EOVERFLOW', 'ETXTBSY', 'EROFS', 'EFBIG', 'EBUSY', 'ENODEV', 'EWOULDBLOCK'],
  create: [...NEW_ENTRY, 'EISDIR', 'EMFILE', 'ENFILE', 'ETXTBSY', 'EFBIG'],
  read: [...FD_DATA, 'EISDIR'],
  write: [...FD_DATA, 'EFBIG', 'ENOSPC', 'EDQUOT', 'EROFS', 'EPIPE'],
  flush: ['EBADF', 'ENOSPC', 'EDQUOT'],
  release: ['EBADF'],
  fsync: ['EBADF', 'EINVAL', 'EROFS', 'ENOSPC', 'EDQUOT'],
  statfs: [...PATH, 'ENOSYS', 'EOVERFLOW'],
  setxattr: XATTR,
  getxattr: XATTR,
  listxattr: XATTR,
  removexattr: XATTR,
  opendir: [...PATH, 'EMFILE', 'ENFILE'],
  readdir: ['EBADF', 'ENOENT', 'ENOTDIR', 'EINVAL'],
  releasedir: ['EBADF'],
  fsyncdir: ['EBADF', 'EINVAL', 'EROFS', 'ENOSPC', 'EDQUOT'],
  access: [...PATH, 'EROFS', 'ETXTBSY', 'EINVAL'],
  fallocate: [...FD_DATA, 'EFBIG', 'ENOSPC', 'EDQUOT', 'EOPNOTSUPP', 'ENODEV', 'ESPIPE', 'ETXTBSY', 'EROFS'],
  lseek: ['EBADF', 'EINVAL', 'ENXIO', 'EOVERFLOW', 'ESPIPE'],
  syncfs: ['EBADF', 'ENOSPC', 'EDQUOT'],
  copyFileRange: [...FD_DATA, 'EFBIG', 'ENOSPC', 'EDQUOT', 'EISDIR', 'EOVERFLOW', 'EXDEV', 'ETXTBSY', 'EROFS', 'EOPNOTSUPP'],
};

const allowed = new Map<OpName, Set<string>>(Object.entries(BY_OP).map(([op, list]) => [op as OpName, new Set([...ANY, ...list])]));

/** The ops among `ops` that can never return `name`. */
export function opsThatCannotReturn(name: string, ops: Iterable<OpName>): OpName[] {
  return [...ops].filter((op) => !allowed.get(op)?.has(name));
}

export function errnoNumber(name: string): number | undefined {
  return E[name];
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The closest known name, if one is close enough to be a typo. */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = distance(name.toUpperCase(), k.toUpperCase());
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
