// One typed request per opcode, decoded from the bytes after fuse_in_header.
// Struct layouts: include/uapi/linux/fuse.h, protocol 7.45.
import type { Reader } from './reader.ts';

export interface InHeader {
  len: number;
  opcode: number;
  unique: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  /** flags | flags2 << 32, as a bigint because it is a 64-bit set. */
  flags: bigint;
}
export interface NameIn {
  name: string;
}
export interface ForgetIn {
  nlookup: number;
}
/** Pair i is (nodeids[i], nlookups[i]): two flat arrays, as batches can hold tens of thousands. */
export interface BatchForgetIn {
  nodeids: Float64Array;
  nlookups: Float64Array;
}
export interface GetattrIn {
  getattrFlags: number;
  fh: number;
}
export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  uid: number;
  gid: number;
}
export interface SymlinkIn {
  name: string;
  target: string;
}
export interface MknodIn {
  mode: number;
  rdev: number;
  umask: number;
  name: string;
}
export interface MkdirIn {
  mode: number;
  umask: number;
  name: string;
}
export interface RenameIn {
  newdir: number;
  flags: number;
  oldname: string;
  newname: string;
}
export interface LinkIn {
  oldnodeid: number;
  name: string;
}
export interface OpenIn {
  flags: number;
  openFlags: number;
}
export interface CreateIn {
  flags: number;
  mode: number;
  umask: number;
  openFlags: number;
  name: string;
}
export interface ReadIn {
  fh: number;
  offset: number;
  size: number;
  readFlags: number;
  flags: number;
}
/** READDIR and READDIRPLUS: `offset` is a cookie of the listing, exact to 64 bits (see DirListing). */
export interface ReaddirIn {
  fh: number;
  offset: bigint;
  size: number;
}
export interface WriteIn {
  fh: number;
  offset: number;
  size: number;
  writeFlags: number;
  flags: number;
  data: Buffer;
}
export interface ReleaseIn {
  fh: number;
  flags: number;
  releaseFlags: number;
}
export interface FsyncIn {
  fh: number;
  fsyncFlags: number;
}
export interface FlushIn {
  fh: number;
}
export interface SetxattrIn {
  size: number;
  flags: number;
  /** FUSE_SETXATTR_ACL_KILL_SGID, with FUSE_SETXATTR_EXT (else 0). */
  setxattrFlags: number;
  name: string;
  value: Buffer;
}
export interface GetxattrIn {
  size: number;
  name: string;
}
export interface ListxattrIn {
  size: number;
}
export interface AccessIn {
  mask: number;
}
export interface InterruptIn {
  unique: number;
}
export interface FallocateIn {
  fh: number;
  offset: number;
  length: number;
  mode: number;
}
export interface LseekIn {
  fh: number;
  offset: number;
  whence: number;
}
export interface CopyFileRangeIn {
  fhIn: number;
  offIn: number;
  nodeidOut: number;
  fhOut: number;
  offOut: number;
  len: number;
  flags: number;
}
export type EmptyIn = Record<string, never>;

/** The decoded body of every opcode we serve. */
export interface Requests {
  INIT: InitIn;
  DESTROY: EmptyIn;
  LOOKUP: NameIn;
  FORGET: ForgetIn;
  BATCH_FORGET: BatchForgetIn;
  GETATTR: GetattrIn;
  SETATTR: SetattrIn;
  READLINK: EmptyIn;
  SYMLINK: SymlinkIn;
  MKNOD: MknodIn;
  MKDIR: MkdirIn;
  UNLINK: NameIn;
  RMDIR: NameIn;
  RENAME: RenameIn;
  RENAME2: RenameIn;
  LINK: LinkIn;
  OPEN: OpenIn;
  CREATE: CreateIn;
  READ: ReadIn;
  WRITE: WriteIn;
  STATFS: EmptyIn;
  RELEASE: ReleaseIn;
  FSYNC: FsyncIn;
  FLUSH: FlushIn;
  SETXATTR: SetxattrIn;
  GETXATTR: GetxattrIn;
  LISTXATTR: ListxattrIn;
  REMOVEXATTR: NameIn;
  OPENDIR: OpenIn;
  READDIR: ReaddirIn;
  READDIRPLUS: ReaddirIn;
  RELEASEDIR: ReleaseIn;
  FSYNCDIR: FsyncIn;
  ACCESS: AccessIn;
  INTERRUPT: InterruptIn;
  FALLOCATE: FallocateIn;
  LSEEK: LseekIn;
  COPY_FILE_RANGE: CopyFileRangeIn;
  COPY_FILE_RANGE_64: CopyFileRangeIn;
  SYNCFS: EmptyIn;
}
export type RequestName = keyof Requests;

/** SETXATTR once INIT negotiated FUSE_SETXATTR_EXT: the 16-byte struct (FuseSession.redecode). */
export function setxattrExt(r: Reader): SetxattrIn {
  const size = r.u32();
  const flags = r.u32();
  const setxattrFlags = r.u32();
  r.skip(4);
  const name = r.cstr();
  return { size, flags, setxattrFlags, name, value: r.bytes(size) };
}

export function decodeHeader(r: Reader): InHeader {
  const len = r.u32();
  const opcode = r.u32();
  const unique = r.u64();
  const nodeid = r.u64();
  const uid = r.u32();
  const gid = r.u32();
  const pid = r.u32();
  r.skip(4); // total_extlen, padding
  return { len, opcode, unique, nodeid, uid, gid, pid };
}

const empty: EmptyIn = {};
const name = (r: Reader): NameIn => ({ name: r.cstr() });
const forget = (r: Reader): ForgetIn => ({ nlookup: r.u64() });

function readIn(r: Reader): ReadIn {
  const fh = r.u64();
  const offset = r.u64();
  const size = r.u32();
  const readFlags = r.u32();
  r.skip(8); // lock_owner
  const flags = r.u32();
  r.skip(4);
  return { fh, offset, size, readFlags, flags };
}

function readdirIn(r: Reader): ReaddirIn {
  const fh = r.u64();
  const offset = r.u64Exact();
  const size = r.u32();
  r.skip(20); // read_flags, lock_owner, flags, padding
  return { fh, offset, size };
}

function releaseIn(r: Reader): ReleaseIn {
  const fh = r.u64();
  const flags = r.u32();
  const releaseFlags = r.u32();
  r.skip(8); // lock_owner
  return { fh, flags, releaseFlags };
}

function fsyncIn(r: Reader): FsyncIn {
  const fh = r.u64();
  const fsyncFlags = r.u32();
  r.skip(4);
  return { fh, fsyncFlags };
}

function openIn(r: Reader): OpenIn {
  return { flags: r.u32(), openFlags: r.u32() };
}

function rename(r: Reader, withFlags: boolean): RenameIn {
  const newdir = r.u64();
  let flags = 0;
  if (withFlags) {
    flags = r.u32();
    r.skip(4);
  }
  const oldname = r.cstr();
  const newname = r.cstr();
  return { newdir, flags, oldname, newname };
}

function copyFileRange(r: Reader): CopyFileRangeIn {
  return {
    fhIn: r.u64(),
    offIn: r.u64(),
    nodeidOut: r.u64(),
    fhOut: r.u64(),
    offOut: r.u64(),
    len: r.u64(),
    flags: r.u64(),
  };
}

/** Largest batch the kernel sends; anything claiming more is malformed. */
const MAX_BATCH_FORGET = 1 << 20;
const TWO_32 = 2 ** 32;

export const decoders: { [K in RequestName]: (r: Reader) => Requests[K] } = {
  INIT(r) {
    const major = r.u32();
    const minor = r.u32();
    const maxReadahead = r.u32();
    const lo = r.u32();
    // Older kernels send a 16-byte fuse_init_in with no flags2.
    const hi = r.end - r.pos >= 4 ? r.u32() : 0;
    return { major, minor, maxReadahead, flags: BigInt(lo) | (BigInt(hi) << 32n) };
  },
  DESTROY: () => empty,
  LOOKUP: name,
  FORGET: forget,
  BATCH_FORGET(r) {
    const count = r.u32();
    r.skip(4);
    if (count > MAX_BATCH_FORGET) r.skip(r.end); // forces a ProtocolError
    // One copy into aligned words, then plain indexing: a batch is decoded rarely (mostly as
    // unoptimised code), and two calls per u64 would cost more than the forgets themselves.
    const words = new Uint32Array(count * 4);
    new Uint8Array(words.buffer).set(r.bytes(count * 16));
    const nodeids = new Float64Array(count);
    const nlookups = new Float64Array(count);
    for (let i = 0, w = 0; i < count; i++, w += 4) {
      nodeids[i] = words[w] + words[w + 1] * TWO_32;
      nlookups[i] = words[w + 2] + words[w + 3] * TWO_32;
    }
    return { nodeids, nlookups };
  },
  GETATTR(r) {
    const getattrFlags = r.u32();
    r.skip(4);
    return { getattrFlags, fh: r.u64() };
  },
  SETATTR(r) {
    const valid = r.u32();
    r.skip(4);
    const fh = r.u64();
    const size = r.u64();
    r.skip(8); // lock_owner
    const atime = r.u64();
    const mtime = r.u64();
    const ctime = r.u64();
    const atimensec = r.u32();
    const mtimensec = r.u32();
    const ctimensec = r.u32();
    const mode = r.u32();
    r.skip(4);
    const uid = r.u32();
    const gid = r.u32();
    r.skip(4);
    return { valid, fh, size, atime, mtime, ctime, atimensec, mtimensec, ctimensec, mode, uid, gid };
  },
  READLINK: () => empty,
  SYMLINK(r) {
    const name = r.cstr();
    return { name, target: r.cstr() };
  },
  MKNOD(r) {
    const mode = r.u32();
    const rdev = r.u32();
    const umask = r.u32();
    r.skip(4);
    return { mode, rdev, umask, name: r.cstr() };
  },
  MKDIR(r) {
    const mode = r.u32();
    const umask = r.u32();
    return { mode, umask, name: r.cstr() };
  },
  UNLINK: name,
  RMDIR: name,
  RENAME: (r) => rename(r, false),
  RENAME2: (r) => rename(r, true),
  LINK(r) {
    const oldnodeid = r.u64();
    return { oldnodeid, name: r.cstr() };
  },
  OPEN: openIn,
  CREATE(r) {
    const flags = r.u32();
    const mode = r.u32();
    const umask = r.u32();
    const openFlags = r.u32();
    return { flags, mode, umask, openFlags, name: r.cstr() };
  },
  READ: readIn,
  WRITE(r) {
    const fh = r.u64();
    const offset = r.u64();
    const size = r.u32();
    const writeFlags = r.u32();
    r.skip(8); // lock_owner
    const flags = r.u32();
    r.skip(4);
    return { fh, offset, size, writeFlags, flags, data: r.bytes(size) };
  },
  STATFS: () => empty,
  RELEASE: releaseIn,
  FSYNC: fsyncIn,
  FLUSH(r) {
    const fh = r.u64();
    r.skip(16); // unused, padding, lock_owner
    return { fh };
  },
  SETXATTR(r) {
    // Without FUSE_SETXATTR_EXT the header is the 8-byte compat struct.
    const size = r.u32();
    const flags = r.u32();
    const name = r.cstr();
    return { size, flags, setxattrFlags: 0, name, value: r.bytes(size) };
  },
  GETXATTR(r) {
    const size = r.u32();
    r.skip(4);
    return { size, name: r.cstr() };
  },
  LISTXATTR(r) {
    const size = r.u32();
    r.skip(4);
    return { size };
  },
  REMOVEXATTR: name,
  OPENDIR: openIn,
  READDIR: readdirIn,
  READDIRPLUS: readdirIn,
  RELEASEDIR: releaseIn,
  FSYNCDIR: fsyncIn,
  ACCESS(r) {
    const mask = r.u32();
    r.skip(4);
    return { mask };
  },
  INTERRUPT: (r) => ({ unique: r.u64() }),
  FALLOCATE(r) {
    const fh = r.u64();
    const offset = r.u64();
    const length = r.u64();
    const mode = r.u32();
    r.skip(4);
    return { fh, offset, length, mode };
  },
  LSEEK(r) {
    const fh = r.u64();
    const offset = r.u64();
    const whence = r.u32();
    r.skip(4);
    return { fh, offset, whence };
  },
  COPY_FILE_RANGE: copyFileRange,
  COPY_FILE_RANGE_64: copyFileRange,
  SYNCFS: (r) => {
    r.skip(8);
    return empty;
  },
};
