import { constants } from 'node:os';

// Filesystem results that are not success. Deliberately not an Error subclass:
// negative lookups are frequent, and capturing a stack for each costs more than
// the lookup itself.
export class FsError {
  readonly errno: number;
  readonly message: string | undefined;
  constructor(errno: number, message?: string) {
    this.errno = errno;
    this.message = message;
  }
  get code(): string {
    return errnoName(this.errno);
  }
  toString(): string {
    return `FsError(${this.code}${this.message ? `: ${this.message}` : ''})`;
  }
}

export const E = constants.errno as Readonly<Record<string, number>>;
export const ENOENT = E.ENOENT;
export const EIO = E.EIO;
export const EEXIST = E.EEXIST;
export const ENOTDIR = E.ENOTDIR;
export const EISDIR = E.EISDIR;
export const EINVAL = E.EINVAL;
export const ENOSPC = E.ENOSPC;
export const ENOTEMPTY = E.ENOTEMPTY;
export const ENOSYS = E.ENOSYS;
export const EACCES = E.EACCES;
export const EPERM = E.EPERM;
export const EBADF = E.EBADF;
export const EXDEV = E.EXDEV;
export const ERANGE = E.ERANGE;
export const ENAMETOOLONG = E.ENAMETOOLONG;
export const EOPNOTSUPP = E.EOPNOTSUPP;
export const ENODATA = E.ENODATA;
export const ELOOP = E.ELOOP;
export const EROFS = E.EROFS;
export const EFBIG = E.EFBIG;
export const EINTR = E.EINTR;
export const EAGAIN = E.EAGAIN;
export const ENXIO = E.ENXIO;
export const EMLINK = E.EMLINK;
export const EPROTO = E.EPROTO;
export const ESTALE = E.ESTALE;

const names = new Map<number, string>();
for (const [name, value] of Object.entries(E)) if (!names.has(value)) names.set(value, name);
names.set(E.EAGAIN, 'EAGAIN');
names.set(E.EOPNOTSUPP, 'EOPNOTSUPP');

export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

export function fail(errno: number, message?: string): never {
  throw new FsError(errno, message);
}

/**
 * Maps anything thrown by a backend to an errno: FsError as is, Node's system
 * errors by their errno, everything else to EIO (reported through onUnexpected).
 */
export function toErrno(err: unknown, onUnexpected?: (err: unknown) => void): number {
  if (err instanceof FsError) return err.errno;
  if (err !== null && typeof err === 'object') {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
    if (typeof e.code === 'string' && typeof E[e.code] === 'number') return E[e.code];
  }
  onUnexpected?.(err);
  return EIO;
}
