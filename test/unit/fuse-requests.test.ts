// Byte-exact decoding of every request the session serves. Bodies are built
// field by field after include/uapi/linux/fuse.h (7.45), so a field read at the
// wrong offset, with the wrong width or a forgotten padding shows up here
// rather than as a confusing failure under a real mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op } from '../../src/fuse/abi.ts';
import { ProtocolError, Reader } from '../../src/fuse/reader.ts';
import { decodeHeader, decoders, setxattrExt, type RequestName, type Requests } from '../../src/fuse/requests.ts';
import { Bytes, inHeader, request } from '../fixtures/fuse-wire.ts';

const GiB = 2 ** 30;
const OFF_5G = 5 * GiB; // needs the high word of a u64
const FH_BIG = 2 ** 32 + 7;
const NODE_BIG = 2 ** 40 + 3;
const UNIQUE = 2 ** 33 + 42;

interface Case<K extends RequestName> {
  body: Buffer;
  expect: Requests[K];
  /**
   * Shortest body prefix the decoder accepts; every shorter prefix must throw.
   * Defaults to the whole body: fixed structs, names and counted data all need every byte.
   */
  minLength?: number;
}

function body(b: Bytes): Buffer {
  return b.build();
}

/** fuse_read_in (40 bytes), shared by READ, READDIR and READDIRPLUS. */
function readIn(fh: number, offset: number, size: number, readFlags: number, flags: number): Buffer {
  return new Bytes()
    .u64(fh) // fh
    .u64(offset) // offset
    .u32(size) // size
    .u32(readFlags) // read_flags
    .u64(0xdead_beef_cafen) // lock_owner: ignored, must not shift later fields
    .u32(flags) // flags (open flags of the file)
    .u32(0) // padding
    .build();
}

/** fuse_release_in (24 bytes), RELEASE and RELEASEDIR. */
function releaseIn(fh: number, flags: number, releaseFlags: number): Buffer {
  return new Bytes()
    .u64(fh) // fh
    .u32(flags) // flags
    .u32(releaseFlags) // release_flags
    .u64(0x1234_5678_9abcn) // lock_owner
    .build();
}

/** fuse_fsync_in (16 bytes), FSYNC and FSYNCDIR. */
function fsyncIn(fh: number, fsyncFlags: number): Buffer {
  return new Bytes()
    .u64(fh) // fh
    .u32(fsyncFlags) // fsync_flags
    .u32(0) // padding
    .build();
}

/** fuse_open_in (8 bytes), OPEN and OPENDIR. */
function openIn(flags: number, openFlags: number): Buffer {
  return new Bytes()
    .u32(flags) // flags
    .u32(openFlags) // open_flags (FUSE_OPEN_KILL_SUIDGID...)
    .build();
}

/** fuse_copy_file_range_in (56 bytes), COPY_FILE_RANGE and COPY_FILE_RANGE_64. */
function copyFileRangeIn(): Buffer {
  return new Bytes()
    .u64(FH_BIG) // fh_in
    .u64(OFF_5G) // off_in
    .u64(NODE_BIG) // nodeid_out
    .u64(9) // fh_out
    .u64(OFF_5G + 4096) // off_out
    .u64(2 ** 33) // len
    .u64(0) // flags
    .build();
}
const copyFileRangeExpect = {
  fhIn: FH_BIG,
  offIn: OFF_5G,
  nodeidOut: NODE_BIG,
  fhOut: 9,
  offOut: OFF_5G + 4096,
  len: 2 ** 33,
  flags: 0,
};

const SNOWMAN_NAME = 'naïve ☃.txt'; // multi-byte UTF-8: byte length != string length

const cases: { [K in RequestName]: Case<K> } = {
  INIT: {
    // fuse_init_in, 64 bytes
    body: body(
      new Bytes()
        .u32(7) // major
        .u32(45) // minor
        .u32(128 * 1024) // max_readahead
        .u32((1 << 30) | (1 << 22) | (1 << 13) | 1) // flags: INIT_EXT, MAX_PAGES, DO_READDIRPLUS, ASYNC_READ
        .u32((1 << 5) | (1 << 31)) // flags2: PASSTHROUGH (bit 37) and bit 63
        .zero(11 * 4), // unused[11]
    ),
    expect: {
      major: 7,
      minor: 45,
      maxReadahead: 128 * 1024,
      flags: (1n << 30n) | (1n << 22n) | (1n << 13n) | 1n | (1n << 37n) | (1n << 63n),
    },
    // Kernels before 7.36 send only major, minor, max_readahead, flags.
    minLength: 16,
  },
  DESTROY: { body: Buffer.alloc(0), expect: {} },
  LOOKUP: { body: body(new Bytes().cstr(SNOWMAN_NAME)), expect: { name: SNOWMAN_NAME } },
  FORGET: {
    // fuse_forget_in, 8 bytes
    body: body(new Bytes().u64(2 ** 33 + 5)), // nlookup
    expect: { nlookup: 2 ** 33 + 5 },
  },
  BATCH_FORGET: {
    body: body(
      new Bytes()
        .u32(3) // fuse_batch_forget_in.count
        .u32(0) // fuse_batch_forget_in.dummy
        .u64(NODE_BIG) // [0] fuse_forget_one.nodeid
        .u64(1) // [0] fuse_forget_one.nlookup
        .u64(2) // [1] nodeid
        .u64(2 ** 32) // [1] nlookup
        .u64(3) // [2] nodeid
        .u64(7), // [2] nlookup
    ),
    expect: {
      nodeids: new Float64Array([NODE_BIG, 2, 3]),
      nlookups: new Float64Array([1, 2 ** 32, 7]),
    },
  },
  GETATTR: {
    // fuse_getattr_in, 16 bytes
    body: body(
      new Bytes()
        .u32(1) // getattr_flags: FUSE_GETATTR_FH
        .u32(0xffff_ffff) // dummy: garbage must be ignored
        .u64(FH_BIG), // fh
    ),
    expect: { getattrFlags: 1, fh: FH_BIG },
  },
  SETATTR: {
    // fuse_setattr_in, 88 bytes
    body: body(
      new Bytes()
        .u32(0xfff) // valid: FATTR_MODE .. FATTR_KILL_SUIDGID
        .u32(0) // padding
        .u64(FH_BIG) // fh
        .u64(OFF_5G) // size
        .u64(0xabcdefn) // lock_owner
        .u64(1_700_000_001) // atime
        .u64(1_700_000_002) // mtime
        .u64(1_700_000_003) // ctime
        .u32(111_111_111) // atimensec
        .u32(222_222_222) // mtimensec
        .u32(333_333_333) // ctimensec
        .u32(0o104755) // mode
        .u32(0xeeee) // unused4
        .u32(1000) // uid
        .u32(2 ** 32 - 2) // gid (nogroup-like, top of the u32 range)
        .u32(0xeeee), // unused5
    ),
    expect: {
      valid: 0xfff,
      fh: FH_BIG,
      size: OFF_5G,
      atime: 1_700_000_001,
      mtime: 1_700_000_002,
      ctime: 1_700_000_003,
      atimensec: 111_111_111,
      mtimensec: 222_222_222,
      ctimensec: 333_333_333,
      mode: 0o104755,
      uid: 1000,
      gid: 2 ** 32 - 2,
    },
  },
  READLINK: { body: Buffer.alloc(0), expect: {} },
  SYMLINK: {
    // no struct: the new entry's name, then the link target
    body: body(new Bytes().cstr('link').cstr('../some/target')),
    expect: { name: 'link', target: '../some/target' },
  },
  MKNOD: {
    // fuse_mknod_in, 16 bytes, then the name
    body: body(
      new Bytes()
        .u32(0o020644) // mode: a character device
        .u32(0x0801) // rdev
        .u32(0o022) // umask
        .u32(0) // padding
        .cstr('dev'),
    ),
    expect: { mode: 0o020644, rdev: 0x0801, umask: 0o022, name: 'dev' },
  },
  MKDIR: {
    // fuse_mkdir_in, 8 bytes, then the name
    body: body(
      new Bytes()
        .u32(0o40755) // mode
        .u32(0o027) // umask
        .cstr('dir'),
    ),
    expect: { mode: 0o40755, umask: 0o027, name: 'dir' },
  },
  UNLINK: { body: body(new Bytes().cstr('gone')), expect: { name: 'gone' } },
  RMDIR: { body: body(new Bytes().cstr('gone-dir')), expect: { name: 'gone-dir' } },
  RENAME: {
    // fuse_rename_in, 8 bytes, then old and new names
    body: body(
      new Bytes()
        .u64(NODE_BIG) // newdir
        .cstr('old')
        .cstr(SNOWMAN_NAME),
    ),
    expect: { newdir: NODE_BIG, flags: 0, oldname: 'old', newname: SNOWMAN_NAME },
  },
  RENAME2: {
    // fuse_rename2_in, 16 bytes, then old and new names
    body: body(
      new Bytes()
        .u64(NODE_BIG) // newdir
        .u32(2) // flags: RENAME_EXCHANGE
        .u32(0) // padding
        .cstr('a')
        .cstr('b'),
    ),
    expect: { newdir: NODE_BIG, flags: 2, oldname: 'a', newname: 'b' },
  },
  LINK: {
    // fuse_link_in, 8 bytes, then the new name
    body: body(
      new Bytes()
        .u64(NODE_BIG) // oldnodeid
        .cstr('hardlink'),
    ),
    expect: { oldnodeid: NODE_BIG, name: 'hardlink' },
  },
  OPEN: { body: openIn(0o1102, 1), expect: { flags: 0o1102, openFlags: 1 } },
  CREATE: {
    // fuse_create_in, 16 bytes, then the name
    body: body(
      new Bytes()
        .u32(0o100101) // flags: O_WRONLY | O_CREAT | O_LARGEFILE
        .u32(0o100640) // mode
        .u32(0o022) // umask
        .u32(1) // open_flags: FUSE_OPEN_KILL_SUIDGID
        .cstr('new-file'),
    ),
    expect: { flags: 0o100101, mode: 0o100640, umask: 0o022, openFlags: 1, name: 'new-file' },
  },
  READ: {
    body: readIn(FH_BIG, OFF_5G, 131072, 2, 0o40000),
    expect: { fh: FH_BIG, offset: OFF_5G, size: 131072, readFlags: 2, flags: 0o40000 },
  },
  WRITE: {
    // fuse_write_in, 40 bytes, then `size` bytes of data
    body: body(
      new Bytes()
        .u64(FH_BIG) // fh
        .u64(OFF_5G) // offset
        .u32(5) // size
        .u32(1) // write_flags: FUSE_WRITE_CACHE
        .u64(0xfeedn) // lock_owner
        .u32(0o2) // flags: O_RDWR
        .u32(0) // padding
        .raw(Buffer.from([0x68, 0x00, 0xff, 0x0a, 0x6f])), // data, NUL included: not a string
    ),
    expect: {
      fh: FH_BIG,
      offset: OFF_5G,
      size: 5,
      writeFlags: 1,
      flags: 0o2,
      data: Buffer.from([0x68, 0x00, 0xff, 0x0a, 0x6f]),
    },
  },
  STATFS: { body: Buffer.alloc(0), expect: {} },
  RELEASE: { body: releaseIn(FH_BIG, 0o2, 1), expect: { fh: FH_BIG, flags: 0o2, releaseFlags: 1 } },
  FSYNC: { body: fsyncIn(FH_BIG, 1), expect: { fh: FH_BIG, fsyncFlags: 1 } },
  FLUSH: {
    // fuse_flush_in, 24 bytes
    body: body(
      new Bytes()
        .u64(FH_BIG) // fh
        .u32(0xaaaa) // unused
        .u32(0) // padding
        .u64(0xbeefn), // lock_owner
    ),
    expect: { fh: FH_BIG },
  },
  SETXATTR: {
    // the 8-byte compat fuse_setxattr_in (no FUSE_SETXATTR_EXT), name, then `size` value bytes
    body: body(
      new Bytes()
        .u32(5) // size
        .u32(1) // flags: XATTR_CREATE
        .cstr('user.k')
        .raw(Buffer.from([0x76, 0x00, 0x78, 0xff, 0x79])),
    ),
    expect: { size: 5, flags: 1, setxattrFlags: 0, name: 'user.k', value: Buffer.from([0x76, 0x00, 0x78, 0xff, 0x79]) },
  },
  GETXATTR: {
    // fuse_getxattr_in, 8 bytes, then the name
    body: body(
      new Bytes()
        .u32(65536) // size
        .u32(0) // padding
        .cstr('security.capability'),
    ),
    expect: { size: 65536, name: 'security.capability' },
  },
  LISTXATTR: {
    // fuse_getxattr_in, 8 bytes
    body: body(
      new Bytes()
        .u32(0) // size: 0 asks for the length
        .u32(0), // padding
    ),
    expect: { size: 0 },
  },
  REMOVEXATTR: { body: body(new Bytes().cstr('user.k')), expect: { name: 'user.k' } },
  OPENDIR: { body: openIn(0o200000, 0), expect: { flags: 0o200000, openFlags: 0 } },
  READDIR: {
    body: readIn(3, 17, 4096, 0, 0o200000),
    expect: { fh: 3, offset: 17n, size: 4096 },
  },
  READDIRPLUS: {
    // fuse_read_in whose offset is a cookie of the backing filesystem: all 63 bits of an ext4 hash
    body: new Bytes().u64(FH_BIG).u64(0x7fff_ffff_ffff_fffen).u32(4096).u32(0).u64(0xdead_beef_cafen).u32(0).u32(0).build(),
    expect: { fh: FH_BIG, offset: 0x7fff_ffff_ffff_fffen, size: 4096 },
  },
  RELEASEDIR: { body: releaseIn(4, 0o200000, 0), expect: { fh: 4, flags: 0o200000, releaseFlags: 0 } },
  FSYNCDIR: { body: fsyncIn(4, 0), expect: { fh: 4, fsyncFlags: 0 } },
  ACCESS: {
    // fuse_access_in, 8 bytes
    body: body(
      new Bytes()
        .u32(4 | 2) // mask: R_OK | W_OK
        .u32(0), // padding
    ),
    expect: { mask: 6 },
  },
  INTERRUPT: {
    // fuse_interrupt_in, 8 bytes
    body: body(new Bytes().u64(2 ** 40 + 2)), // unique of the interrupted request
    expect: { unique: 2 ** 40 + 2 },
  },
  FALLOCATE: {
    // fuse_fallocate_in, 32 bytes
    body: body(
      new Bytes()
        .u64(FH_BIG) // fh
        .u64(OFF_5G) // offset
        .u64(2 ** 33) // length
        .u32(3) // mode: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
        .u32(0), // padding
    ),
    expect: { fh: FH_BIG, offset: OFF_5G, length: 2 ** 33, mode: 3 },
  },
  LSEEK: {
    // fuse_lseek_in, 24 bytes
    body: body(
      new Bytes()
        .u64(FH_BIG) // fh
        .u64(OFF_5G) // offset
        .u32(3) // whence: SEEK_DATA
        .u32(0), // padding
    ),
    expect: { fh: FH_BIG, offset: OFF_5G, whence: 3 },
  },
  COPY_FILE_RANGE: { body: copyFileRangeIn(), expect: copyFileRangeExpect },
  COPY_FILE_RANGE_64: { body: copyFileRangeIn(), expect: copyFileRangeExpect },
  SYNCFS: {
    // fuse_syncfs_in, 8 bytes
    body: body(new Bytes().u64(0)), // padding
    expect: {},
  },
};

/** Decodes the body of a whole request the way the session does: header first, then the op struct. */
function decode<K extends RequestName>(name: K, bodyBytes: Buffer): Requests[K] {
  const buf = request(Op[name], UNIQUE, NODE_BIG, bodyBytes);
  const r = new Reader(buf, 0, buf.length);
  const h = decodeHeader(r);
  assert.equal(h.opcode, Op[name]);
  assert.equal(h.len, buf.length);
  assert.equal(r.pos, 40);
  return decoders[name](r);
}

test('every decoder has a byte-exact case', () => {
  assert.deepEqual(Object.keys(cases).sort(), Object.keys(decoders).sort());
});

test('the hand-built structs have the sizes of include/uapi/linux/fuse.h', () => {
  // Guards the cases themselves: a missing padding field here would make the
  // decoder and the test agree on a wrong layout.
  const fixed: Partial<Record<RequestName, number>> = {
    INIT: 64, // fuse_init_in
    FORGET: 8, // fuse_forget_in
    BATCH_FORGET: 8 + 3 * 16, // fuse_batch_forget_in + 3 fuse_forget_one
    GETATTR: 16, // fuse_getattr_in
    SETATTR: 88, // fuse_setattr_in
    MKNOD: 16 + 'dev\0'.length, // fuse_mknod_in
    MKDIR: 8 + 'dir\0'.length, // fuse_mkdir_in
    RENAME: 8 + 'old\0'.length + Buffer.byteLength(`${SNOWMAN_NAME}\0`), // fuse_rename_in
    RENAME2: 16 + 'a\0b\0'.length, // fuse_rename2_in
    LINK: 8 + 'hardlink\0'.length, // fuse_link_in
    OPEN: 8, // fuse_open_in
    CREATE: 16 + 'new-file\0'.length, // fuse_create_in
    READ: 40, // fuse_read_in
    WRITE: 40 + 5, // fuse_write_in + data
    RELEASE: 24, // fuse_release_in
    FSYNC: 16, // fuse_fsync_in
    FLUSH: 24, // fuse_flush_in
    SETXATTR: 8 + 'user.k\0'.length + 5, // compat fuse_setxattr_in
    GETXATTR: 8 + 'security.capability\0'.length, // fuse_getxattr_in
    LISTXATTR: 8,
    ACCESS: 8, // fuse_access_in
    INTERRUPT: 8, // fuse_interrupt_in
    FALLOCATE: 32, // fuse_fallocate_in
    LSEEK: 24, // fuse_lseek_in
    COPY_FILE_RANGE: 56, // fuse_copy_file_range_in
    COPY_FILE_RANGE_64: 56,
    SYNCFS: 8, // fuse_syncfs_in
  };
  for (const [name, size] of Object.entries(fixed)) {
    assert.equal(cases[name as RequestName].body.length, size, name);
  }
});

test('fuse_in_header: every field at its offset, u64s above 2^32, extension length skipped', () => {
  const buf = inHeader({
    len: 40,
    opcode: Op.GETATTR,
    unique: 2 ** 52 + 2,
    nodeid: NODE_BIG,
    uid: 2 ** 32 - 1,
    gid: 65534,
    pid: 4_194_304,
    totalExtlen: 3,
  });
  assert.equal(buf.length, 40);
  const r = new Reader(buf, 0, buf.length);
  assert.deepEqual(decodeHeader(r), {
    len: 40,
    opcode: Op.GETATTR,
    unique: 2 ** 52 + 2,
    nodeid: NODE_BIG,
    uid: 2 ** 32 - 1,
    gid: 65534,
    pid: 4_194_304,
  });
  assert.equal(r.pos, 40, 'total_extlen and padding are consumed');
});

test('fuse_in_header: any prefix shorter than 40 bytes is a ProtocolError', () => {
  const full = inHeader({ len: 40, opcode: Op.STATFS, unique: 2, nodeid: 1 });
  for (let n = 0; n < 40; n++) {
    assert.throws(() => decodeHeader(new Reader(full, 0, n)), ProtocolError, `header of ${n} bytes`);
  }
});

for (const name of Object.keys(cases) as RequestName[]) {
  const c = cases[name] as Case<typeof name>;

  test(`${name}: decodes field by field`, () => {
    assert.deepStrictEqual(decode(name, c.body), c.expect);
  });

  if (c.body.length > 0) {
    test(`${name}: truncated bodies are ProtocolErrors`, () => {
      const min = c.minLength ?? c.body.length;
      for (let n = 0; n < min; n++) {
        assert.throws(() => decode(name, c.body.subarray(0, n)), ProtocolError, `${name} body of ${n}/${c.body.length} bytes`);
      }
    });
  }
}

test('INIT: the 16-byte pre-7.36 fuse_init_in has no flags2', () => {
  const old = new Bytes()
    .u32(7) // major
    .u32(31) // minor
    .u32(65536) // max_readahead
    .u32(0x8000_0001) // flags: bit 31 must stay unsigned
    .build();
  assert.deepStrictEqual(decode('INIT', old), { major: 7, minor: 31, maxReadahead: 65536, flags: 0x8000_0001n });
});

test('WRITE and SETXATTR payloads are views of the request, not copies', () => {
  const buf = request(Op.WRITE, UNIQUE, 5, cases.WRITE.body);
  const r = new Reader(buf, 40, buf.length);
  const w = decoders.WRITE(r);
  assert.equal(w.data.buffer, buf.buffer);
  assert.equal(w.data.byteOffset, buf.byteOffset + 80);

  const xbuf = request(Op.SETXATTR, UNIQUE, 5, cases.SETXATTR.body);
  const x = decoders.SETXATTR(new Reader(xbuf, 40, xbuf.length));
  assert.equal(x.value.buffer, xbuf.buffer);
  assert.equal(x.value.byteOffset, xbuf.byteOffset + 40 + 8 + 'user.k\0'.length);
});

test('SETXATTR with FUSE_SETXATTR_EXT: the 16-byte fuse_setxattr_in, setxattr_flags included', () => {
  const b = new Bytes()
    .u32(3) // size
    .u32(2) // flags: XATTR_REPLACE
    .u32(1) // setxattr_flags: FUSE_SETXATTR_ACL_KILL_SGID
    .u32(0xaaaa) // padding
    .cstr('system.posix_acl_access')
    .raw(Buffer.from('abc'))
    .build();
  const buf = request(Op.SETXATTR, UNIQUE, 5, b);
  const x = setxattrExt(new Reader(buf, 40, buf.length));
  assert.deepStrictEqual(x, { size: 3, flags: 2, setxattrFlags: 1, name: 'system.posix_acl_access', value: Buffer.from('abc') });
  assert.equal(x.value.buffer, buf.buffer, 'a view, not a copy');
});

test('WRITE: a size larger than the data that follows is a ProtocolError', () => {
  const b = new Bytes()
    .u64(1) // fh
    .u64(0) // offset
    .u32(4097) // size: one more than sent
    .u32(0) // write_flags
    .u64(0) // lock_owner
    .u32(0) // flags
    .u32(0) // padding
    .zero(4096)
    .build();
  assert.throws(() => decode('WRITE', b), ProtocolError);
  const huge = Buffer.from(b);
  huge.writeUInt32LE(0xffff_ffff, 16);
  assert.throws(() => decode('WRITE', huge), ProtocolError);
});

test('SETXATTR: a value size beyond the request is a ProtocolError', () => {
  const b = new Bytes()
    .u32(0xffff_fff0) // size
    .u32(0) // flags
    .cstr('user.x')
    .raw(Buffer.from('v'))
    .build();
  assert.throws(() => decode('SETXATTR', b), ProtocolError);
});

test('names must be NUL-terminated inside the request, whatever lies beyond its end', () => {
  // The session reads into a large reused buffer: bytes after `len` are stale
  // and may well hold a NUL, which must not end a name.
  const req = request(Op.LOOKUP, UNIQUE, 1, Buffer.from('abc'));
  const big = Buffer.alloc(req.length + 64); // zeros after the request
  req.copy(big);
  const r = new Reader(big, 0, req.length);
  decodeHeader(r);
  assert.throws(() => decoders.LOOKUP(r), ProtocolError);

  for (const name of ['SYMLINK', 'RENAME', 'RENAME2'] as const) {
    const full = cases[name].body;
    // drop only the final NUL: the first name is whole, the second is not
    assert.throws(() => decode(name, full.subarray(0, full.length - 1)), ProtocolError, name);
  }
});

test('an empty name (a lone NUL) decodes as the empty string', () => {
  assert.deepStrictEqual(decode('LOOKUP', Buffer.from([0])), { name: '' });
});

test('BATCH_FORGET: a count larger than the body is a ProtocolError', () => {
  const b = new Bytes()
    .u32(3) // count: three claimed
    .u32(0) // dummy
    .u64(2) // [0] nodeid
    .u64(1) // [0] nlookup
    .u64(3) // [1] nodeid
    .u64(1) // [1] nlookup, and no third
    .build();
  assert.throws(() => decode('BATCH_FORGET', b), ProtocolError);
});

test('BATCH_FORGET: an absurd count fails fast instead of allocating', () => {
  const b = new Bytes()
    .u32(0xffff_ffff) // count
    .u32(0) // dummy
    .u64(2)
    .u64(1)
    .build();
  assert.throws(() => decode('BATCH_FORGET', b), ProtocolError);
});

test('BATCH_FORGET: count 0 is an empty batch', () => {
  const b = new Bytes().u32(0).u32(0).build(); // count, dummy
  assert.deepStrictEqual(decode('BATCH_FORGET', b), { nodeids: new Float64Array(0), nlookups: new Float64Array(0) });
});

test('u64 fields are exact up to 2^53 - 1', () => {
  const b = new Bytes().u64(2 ** 53 - 1).build(); // fuse_forget_in.nlookup
  assert.deepStrictEqual(decode('FORGET', b), { nlookup: 2 ** 53 - 1 });
});
