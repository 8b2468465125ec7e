// The session and the bridge end to end, without a mount: the test plays the
// kernel over a SOCK_SEQPACKET socketpair (fixtures/fuse-harness.ts), sending
// hand-built requests and reading the replies byte by byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { InitFlag, Op } from '../../src/fuse/abi.ts';
import * as sys from '../../src/sys/libc.ts';
import { EINTR, EINVAL, ENOENT, ENOSYS, ENOTDIR, EPROTO } from '../../src/vfs/errors.ts';
import type { OpContext, Vfs } from '../../src/vfs/types.ts';
import { BasicTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createStack } from '../../src/layers/stack.ts';
import { createTraceLayer } from '../../src/layers/trace.ts';
import { log } from '../../src/util/log.ts';
import { Harness } from '../fixtures/fuse-harness.ts';
import { waitFor } from '../helpers/mount.ts';
import type { SessionOptions } from '../../src/fuse/session.ts';
import type { InitOut } from '../../src/fuse/replies.ts';
import { Bytes, readAttr, readDirents, readEntryOut, request } from '../fixtures/fuse-wire.ts';
import { ToyVfs } from '../fixtures/toy-vfs.ts';

// Several tests send malformed requests on purpose; their warnings are noise.
// Errors (an exception that escaped a handler) still show.
log.level = 'error';

const ctx: OpContext = { uid: 0, gid: 0, pid: 1, unique: 0 };
const ROOT = 1;
const bit = (n: number): bigint => 1n << BigInt(n);

/** fuse_init_in, 64 bytes. */
function initIn(major: number, minor: number, maxReadahead: number, flags: bigint): Bytes {
  return new Bytes()
    .u32(major) // major
    .u32(minor) // minor
    .u32(maxReadahead) // max_readahead
    .u32(Number(flags & 0xffff_ffffn)) // flags
    .u32(Number(flags >> 32n)) // flags2
    .zero(11 * 4); // unused[11]
}

/** struct fuse_init_out, 64 bytes. */
function readInitOut(p: Buffer): InitOut {
  assert.equal(p.length, 64, 'fuse_init_out is 64 bytes');
  return {
    major: p.readUInt32LE(0),
    minor: p.readUInt32LE(4),
    maxReadahead: p.readUInt32LE(8),
    flags: BigInt(p.readUInt32LE(12)) | (BigInt(p.readUInt32LE(32)) << 32n),
    maxBackground: p.readUInt16LE(16),
    congestionThreshold: p.readUInt16LE(18),
    maxWrite: p.readUInt32LE(20),
    timeGran: p.readUInt32LE(24),
    maxPages: p.readUInt16LE(28),
    maxStackDepth: p.readUInt32LE(36),
  };
}

/** Everything a current kernel offers, plus a bit no kernel defines yet. */
const OFFERED = Object.values(InitFlag).reduce((acc, b) => acc | bit(b), 0n) | bit(55);

function lookupBody(name: string): Bytes {
  return new Bytes().cstr(name);
}
function forgetBody(nlookup: number): Bytes {
  return new Bytes().u64(nlookup); // fuse_forget_in.nlookup
}
function getattrBody(flags = 0, fh = 0): Bytes {
  return new Bytes()
    .u32(flags) // getattr_flags
    .u32(0) // dummy
    .u64(fh); // fh
}
function readBody(fh: number, offset: number, size: number): Bytes {
  return new Bytes()
    .u64(fh) // fh
    .u64(offset) // offset
    .u32(size) // size
    .u32(0) // read_flags
    .u64(0) // lock_owner
    .u32(0) // flags
    .u32(0); // padding
}
function openBody(flags: number): Bytes {
  return new Bytes()
    .u32(flags) // flags
    .u32(0); // open_flags
}

async function init(h: Harness, minor = 45, flags = OFFERED): Promise<InitOut> {
  const r = await h.call(Op.INIT, 0, initIn(7, minor, 128 * 1024, flags));
  assert.equal(r.error, 0);
  return readInitOut(r.payload);
}

/** Runs `body` against a fresh session, and always closes it and checks it ended. */
async function withSession(
  vfs: Vfs,
  body: (h: Harness) => Promise<void>,
  options = {},
  sessionOptions: Partial<SessionOptions> = {},
): Promise<void> {
  const h = new Harness(vfs, options, sessionOptions);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

/** Runs `body` against an initialised session that sleeps at once when idle, then against one that busy-polls. */
async function withEachBusyPoll(body: (h: Harness, busyPollMs: number) => Promise<void>): Promise<void> {
  for (const busyPollMs of [0, 0.2]) {
    await withSession(
      new ToyVfs(),
      async (h) => {
        await init(h);
        await body(h, busyPollMs);
      },
      {},
      { busyPollMs },
    );
  }
}

function seedFile(vfs: ToyVfs, path: string, content: string): void {
  const c = vfs.create(ctx, path, 0o1, 0o644) as { fh: number };
  vfs.write(ctx, path, c.fh, Buffer.from(content), 0);
  vfs.release(ctx, path, c.fh);
}

test('INIT: major 7, minor min(kernel, 45), only offered flags, INIT_EXT echoed, sizes consistent', async () => {
  await withSession(new ToyVfs(), async (h) => {
    const out = await init(h, 46);
    assert.equal(out.major, 7);
    assert.equal(out.minor, 45, 'a newer kernel gets our minor');
    assert.equal(out.flags & ~OFFERED, 0n, 'no flag the kernel did not offer');
    assert.ok(out.flags & bit(InitFlag.INIT_EXT), 'INIT_EXT echoed, or the kernel ignores flags2');
    assert.equal(out.flags & bit(InitFlag.PASSTHROUGH), 0n, 'passthrough not asked for');
    assert.equal(out.flags & bit(InitFlag.WRITEBACK_CACHE), 0n, 'writeback cache not asked for');
    assert.ok(out.flags & bit(InitFlag.HANDLE_KILLPRIV_V2), 'set-id bits cleared by the daemon (vfs/set-id.ts)');
    assert.equal(out.flags & bit(55), 0n, 'unknown bits are never echoed');
    assert.ok(out.maxReadahead <= 128 * 1024, 'max_readahead may only be lowered');
    assert.ok(out.maxWrite >= 4096);
    assert.ok(out.maxPages >= 1);
    assert.ok(out.maxWrite <= out.maxPages * 4096, `max_write ${out.maxWrite} > max_pages ${out.maxPages} pages`);
    let limit = 32;
    try {
      limit = Number(readFileSync('/proc/sys/fs/fuse/max_pages_limit', 'utf8'));
    } catch {
      // fuse module not loaded: the init code assumes the old 32-page cap
    }
    assert.ok(out.maxPages <= limit, `max_pages ${out.maxPages} above the kernel limit ${limit}`);
    assert.equal(out.timeGran, 1);
    assert.equal(out.maxBackground, 12);
    assert.ok(out.congestionThreshold <= out.maxBackground);
    assert.equal(out.maxStackDepth, 0, 'no stacking without passthrough');

    const older = await init(h, 31, bit(InitFlag.ASYNC_READ) | bit(InitFlag.BIG_WRITES) | bit(InitFlag.POSIX_LOCKS));
    assert.equal(older.minor, 31, 'an older kernel keeps its minor');
    assert.equal(older.flags, bit(InitFlag.ASYNC_READ) | bit(InitFlag.BIG_WRITES));
    assert.equal(older.flags & bit(InitFlag.INIT_EXT), 0n, 'INIT_EXT only when offered');

    // A 16-byte pre-7.36 fuse_init_in.
    const r = await h.call(
      Op.INIT,
      0,
      new Bytes()
        .u32(7) // major
        .u32(27) // minor
        .u32(65536) // max_readahead
        .u32(1), // flags: ASYNC_READ
    );
    const ancient = readInitOut(r.payload);
    assert.equal(ancient.minor, 27);
    assert.equal(ancient.flags, 1n);
  });
});

test('INIT: a newer major gets 7 back, an older one EPROTO', async () => {
  await withSession(new ToyVfs(), async (h) => {
    const r = await h.call(Op.INIT, 0, initIn(8, 0, 4096, 0n));
    assert.equal(r.error, 0);
    const out = readInitOut(r.payload);
    assert.equal(out.major, 7, 'the kernel then sends a second INIT for major 7');
    assert.equal(out.minor, 45);

    const old = await h.call(Op.INIT, 0, initIn(6, 9, 4096, 0n));
    assert.equal(old.error, -EPROTO);
    assert.equal(old.payload.length, 0);
  });
});

test('INIT: kernel passthrough is negotiated only when asked for, offered and allowed', async () => {
  await withSession(
    new ToyVfs(),
    async (h) => {
      const notOffered = await init(h, 45, OFFERED & ~bit(InitFlag.PASSTHROUGH));
      assert.equal(notOffered.flags & bit(InitFlag.PASSTHROUGH), 0n);
      assert.equal(notOffered.maxStackDepth, 0);
      assert.equal(h.bridge.passthrough, false);

      const offered = await init(h, 45, OFFERED);
      if (sys.geteuid() === 0) {
        assert.ok(offered.flags & bit(InitFlag.PASSTHROUGH));
        assert.ok(offered.flags & bit(InitFlag.INIT_EXT), 'flags2 is ignored without INIT_EXT');
        assert.equal(offered.maxStackDepth, 1);
        assert.equal(offered.flags & bit(InitFlag.WRITEBACK_CACHE), 0n, 'passthrough and writeback cache conflict');
        assert.equal(h.bridge.passthrough, true);
      } else {
        assert.equal(offered.flags & bit(InitFlag.PASSTHROUGH), 0n, 'needs CAP_SYS_ADMIN');
      }
    },
    { kernelPassthrough: true },
  );
});

test("a flagged WRITE looks at the mode only of a file last seen set-id, clears it and drops the kernel's cached attributes; a flagged CREATE replies without the bits", async () => {
  const FUSE_WRITE_KILL_SUIDGID = 1 << 2;
  const vfs = new ToyVfs();
  seedFile(vfs, '/plain', 'p');
  seedFile(vfs, '/suid', 's');
  vfs.setattr(ctx, '/suid', { mode: 0o4755 });
  let getattrs = 0;
  const getattr = vfs.getattr.bind(vfs);
  vfs.getattr = (...args) => (getattrs++, getattr(...args));
  const writeBody = (fh: number, data: string): Bytes =>
    new Bytes()
      .u64(fh) // fh
      .u64(0) // offset
      .u32(data.length) // size
      .u32(FUSE_WRITE_KILL_SUIDGID) // write_flags: the caller lacks CAP_FSETID
      .u64(0) // lock_owner
      .u32(0) // flags
      .u32(0) // padding
      .raw(Buffer.from(data));
  await withSession(vfs, async (h) => {
    await init(h);
    const nobody = { uid: 65534, gid: 65534, pid: 1 };
    const open = async (name: string): Promise<[number, number]> => {
      const { nodeid } = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody(name))).payload, 0);
      const o = await h.call(Op.OPEN, nodeid, openBody(2 /* O_RDWR */));
      return [nodeid, Number(o.payload.readBigUInt64LE(0))];
    };
    const [, plainFh] = await open('plain');
    const [suidId, suidFh] = await open('suid');

    getattrs = 0;
    const w = await h.call(Op.WRITE, 2, writeBody(plainFh, 'P'), nobody);
    assert.equal(w.error, 0);
    assert.equal(getattrs, 0, 'an ordinary file: nothing looked up, layers see the write alone');

    const unique = h.unique();
    h.send(request(Op.WRITE, unique, suidId, writeBody(suidFh, 'S'), nobody));
    const notice = await h.recv();
    assert.equal(notice.unique, 0n, 'a notification first');
    assert.equal(notice.error, 2, 'FUSE_NOTIFY_INVAL_INODE');
    assert.equal(Number(notice.payload.readBigUInt64LE(0)), suidId, 'of the file written');
    assert.equal(notice.payload.readBigInt64LE(8), -1n, 'attributes only: no pages dropped under a pending WRITE');
    const reply = await h.recv();
    assert.equal(reply.unique, BigInt(unique));
    assert.equal(reply.error, 0);
    assert.equal(getattrs, 1);
    assert.equal((vfs.getattr(ctx, '/suid') as { mode: number }).mode & 0o7777, 0o755, 'setuid cleared');

    getattrs = 0;
    assert.equal((await h.call(Op.WRITE, suidId, writeBody(suidFh, 'T'), nobody)).error, 0);
    assert.equal(getattrs, 0, 'no longer set-id: the next flagged write looks nothing up');

    // A CREATE with O_TRUNC that finds the file after all (a lookup raced it), flagged: the reply
    // carries the attributes without the bits.
    vfs.setattr(ctx, '/suid', { mode: 0o6775 });
    await h.call(Op.GETATTR, suidId, getattrBody()); // the node is seen set-id again
    const create = new Bytes()
      .u32(2 | 0o1000) // flags: O_RDWR | O_TRUNC
      .u32(0o100644) // mode
      .u32(0o022) // umask
      .u32(1) // open_flags: FUSE_OPEN_KILL_SUIDGID
      .cstr('suid');
    const c = await h.call(Op.CREATE, ROOT, create, nobody);
    assert.equal(c.error, 0);
    const created = readEntryOut(c.payload, 0);
    assert.equal(created.nodeid, suidId);
    assert.equal(created.attr.mode & 0o7777, 0o775, 'setuid and setgid (group execute) cleared, in the reply too');
  });
});

test('LOOKUP then GETATTR of a file: the same node and attributes', async () => {
  const vfs = new ToyVfs();
  seedFile(vfs, '/hello', 'hi there');
  await withSession(vfs, async (h) => {
    await init(h);
    const r = await h.call(Op.LOOKUP, ROOT, lookupBody('hello'), { uid: 1000, gid: 1000, pid: 4242 });
    assert.equal(r.error, 0);
    assert.equal(r.payload.length, 128, 'fuse_entry_out');
    const e = readEntryOut(r.payload, 0);
    assert.ok(e.nodeid > ROOT);
    assert.equal(e.generation, 0);
    assert.equal(e.entryValid, 1);
    assert.equal(e.attrValid, 1);
    assert.equal(e.attr.size, 8);
    assert.equal(e.attr.mode, 0o100644);
    assert.equal(e.attr.nlink, 1);

    const g = await h.call(Op.GETATTR, e.nodeid, getattrBody());
    assert.equal(g.error, 0);
    assert.equal(g.payload.length, 104, 'fuse_attr_out');
    assert.equal(Number(g.payload.readBigUInt64LE(0)), 1, 'attr_valid');
    assert.deepEqual(readAttr(g.payload, 16), e.attr);

    // GETATTR of an open file goes through its handle.
    const o = await h.call(Op.OPEN, e.nodeid, openBody(0));
    assert.equal(o.error, 0);
    const fh = Number(o.payload.readBigUInt64LE(0));
    const gf = await h.call(Op.GETATTR, e.nodeid, getattrBody(1, fh));
    assert.deepEqual(readAttr(gf.payload, 16), e.attr);
    const rd = await h.call(Op.READ, e.nodeid, readBody(fh, 3, 4096));
    assert.equal(rd.payload.toString(), 'there');
    const rl = await h.call(
      Op.RELEASE,
      e.nodeid,
      new Bytes()
        .u64(fh) // fh
        .u32(0) // flags
        .u32(0) // release_flags
        .u64(0), // lock_owner
    );
    assert.equal(rl.error, 0);
    assert.equal(vfs.openHandles, 0);
  });
});

test('requests are counted per op; their time is kept only once timeRequests() was called', async () => {
  const vfs = new ToyVfs();
  seedFile(vfs, '/hello', 'hi there');
  await withSession(vfs, async (h) => {
    await init(h);
    const s = h.session;
    for (let i = 0; i < 20; i++) assert.equal((await h.call(Op.LOOKUP, ROOT, lookupBody('hello'))).error, 0);
    assert.equal(s.opCounts[Op.LOOKUP], 20);
    assert.equal(s.opSeconds[Op.LOOKUP], 0, 'not timed by default');
    s.timeRequests();
    for (let i = 0; i < 20; i++) assert.equal((await h.call(Op.LOOKUP, ROOT, lookupBody('hello'))).error, 0);
    assert.equal(s.opCounts[Op.LOOKUP], 40);
    assert.ok(s.opSeconds[Op.LOOKUP] > 0, 'timed once asked');
  });
});

test('errors travel as a negative errno in the out header, with no payload', async () => {
  await withSession(new ToyVfs(), async (h) => {
    await init(h);
    const missing = await h.call(Op.LOOKUP, ROOT, lookupBody('missing'));
    assert.equal(missing.error, -ENOENT);
    assert.equal(missing.len, 16);
    assert.equal(missing.payload.length, 0);

    const unknownNode = await h.call(Op.GETATTR, 424242, getattrBody());
    assert.equal(unknownNode.error, -ENOENT);
  });
});

test('LOOKUP of a missing name with a negative timeout caches a negative entry', async () => {
  await withSession(
    new ToyVfs(),
    async (h) => {
      await init(h);
      const r = await h.call(Op.LOOKUP, ROOT, lookupBody('missing'));
      assert.equal(r.error, 0, 'a negative entry is a successful reply');
      const e = readEntryOut(r.payload, 0);
      assert.equal(e.nodeid, 0);
      assert.equal(e.entryValid, 2);
    },
    { negativeTimeoutMs: 2000 },
  );
});

test('a failed LOOKUP, thrown or returned, at once or later: ENOENT becomes a negative entry only with a negative timeout, other errnos stay errnos', async () => {
  for (const returnFailures of [false, true])
    for (const later of [false, true])
      for (const negativeTimeoutMs of [0, 2000]) {
        const how = `${returnFailures ? 'returned' : 'thrown'}, ${later ? 'later' : 'at once'}, negative timeout ${negativeTimeoutMs}`;
        const vfs = new ToyVfs({ returnFailures, async: (op) => later && op === 'getattr' });
        seedFile(vfs, '/file', 'x');
        await withSession(
          vfs,
          async (h) => {
            await init(h);
            const missing = await h.call(Op.LOOKUP, ROOT, lookupBody('missing'));
            if (negativeTimeoutMs === 0) assert.equal(missing.error, -ENOENT, how);
            else {
              assert.equal(missing.error, 0, `${how}: a negative entry is a successful reply`);
              assert.equal(readEntryOut(missing.payload, 0).nodeid, 0, how);
            }
            const file = await h.call(Op.LOOKUP, ROOT, lookupBody('file'));
            assert.equal(file.error, 0, how);
            const under = await h.call(Op.LOOKUP, readEntryOut(file.payload, 0).nodeid, lookupBody('x'));
            assert.equal(under.error, -ENOTDIR, `${how}: a name under a file`);
          },
          { negativeTimeoutMs },
        );
      }
});

test('unknown and unimplemented opcodes get ENOSYS', async () => {
  await withSession(new ToyVfs(), async (h) => {
    await init(h);
    for (const opcode of [0, 7, 19, Op.BMAP, Op.IOCTL, Op.POLL, Op.NOTIFY_REPLY, Op.TMPFILE, Op.STATX, 54, 4096, 2 ** 32 - 1]) {
      const r = await h.call(opcode, ROOT, Buffer.alloc(8));
      assert.equal(r.error, -ENOSYS, `opcode ${opcode}`);
    }
  });
});

test('FORGET, BATCH_FORGET and INTERRUPT get no reply', async () => {
  await withSession(new ToyVfs(), async (h) => {
    await init(h);
    h.send(request(Op.FORGET, h.unique(), 777, forgetBody(1)));
    h.send(
      request(
        Op.BATCH_FORGET,
        h.unique(),
        0,
        new Bytes()
          .u32(1) // count
          .u32(0) // dummy
          .u64(778) // nodeid
          .u64(1), // nlookup
      ),
    );
    h.send(request(Op.INTERRUPT, h.unique() + 1, 0, new Bytes().u64(12345678))); // unique of a request never sent
    // Also when malformed: a reply to any of these would be a protocol error of ours.
    h.send(request(Op.FORGET, h.unique(), 777, Buffer.alloc(3)));
    h.send(request(Op.BATCH_FORGET, h.unique(), 0, new Bytes().u32(5).u32(0)));
    h.send(request(Op.INTERRUPT, h.unique() + 1, 0, Buffer.alloc(2)));
    h.send(request(Op.FORGET, h.unique(), 777, forgetBody(1), { lenDelta: 8 }));
    // The next reply must be the GETATTR's.
    const r = await h.call(Op.GETATTR, ROOT, getattrBody());
    assert.equal(r.error, 0);
    assert.equal(await h.tryRecv(50), null, 'nothing else was queued');
  });
});

test('lookup counting: a node lives until FORGET drops its last lookup', async () => {
  const vfs = new ToyVfs();
  seedFile(vfs, '/f', 'x');
  await withSession(vfs, async (h) => {
    await init(h);
    const a = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0);
    const b = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0);
    assert.equal(a.nodeid, b.nodeid, 'a name the kernel holds keeps its node id');
    const id = a.nodeid;

    h.send(request(Op.FORGET, h.unique(), id, forgetBody(1)));
    assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, 0, 'one lookup left');

    h.send(request(Op.FORGET, h.unique(), id, forgetBody(1)));
    assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, -ENOENT, 'forgotten');

    const again = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0);
    assert.notEqual(`${again.nodeid}:${again.generation}`, `${id}:${a.generation}`, 'a new node: the id may be reused, the pair not');

    // BATCH_FORGET counts the same way.
    await h.call(Op.LOOKUP, ROOT, lookupBody('f'));
    await h.call(Op.LOOKUP, ROOT, lookupBody('f'));
    h.send(
      request(
        Op.BATCH_FORGET,
        h.unique(),
        0,
        new Bytes()
          .u32(2) // count
          .u32(0) // dummy
          .u64(again.nodeid) // [0] nodeid
          .u64(2) // [0] nlookup
          .u64(ROOT) // [1] the root is never forgotten
          .u64(1000), // [1] nlookup
      ),
    );
    assert.equal((await h.call(Op.GETATTR, again.nodeid, getattrBody())).error, 0, 'one of three lookups left');
    h.send(request(Op.FORGET, h.unique(), again.nodeid, forgetBody(1)));
    assert.equal((await h.call(Op.GETATTR, again.nodeid, getattrBody())).error, -ENOENT);
    assert.equal((await h.call(Op.GETATTR, ROOT, getattrBody())).error, 0);
  });
});

test('a batch of forgets is applied after the requests queued behind it are answered', async () => {
  const vfs = new ToyVfs();
  seedFile(vfs, '/f', 'x');
  await withSession(vfs, async (h) => {
    await init(h);
    const { nodeid } = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0);
    const batch = new Bytes().u32(1).u32(0).u64(nodeid).u64(1);
    // Both queued before the daemon reads either: the GETATTR is answered first.
    h.send(request(Op.BATCH_FORGET, h.unique(), 0, batch));
    assert.equal((await h.call(Op.GETATTR, nodeid, getattrBody())).error, 0, 'answered before the forget applied');
    assert.equal((await h.call(Op.GETATTR, nodeid, getattrBody())).error, -ENOENT, 'then forgotten');
    // A lookup between a batch and its application keeps the node, with the kernel's count.
    const again = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0);
    h.send(request(Op.BATCH_FORGET, h.unique(), 0, new Bytes().u32(1).u32(0).u64(again.nodeid).u64(1)));
    const third = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0);
    assert.equal(third.nodeid, again.nodeid, 'the pending forget left the node alive');
    assert.equal(third.generation, again.generation);
    assert.equal((await h.call(Op.GETATTR, again.nodeid, getattrBody())).error, 0, 'one lookup left');
  });
});

test('lookup counting: CREATE, MKDIR and SYMLINK each count one lookup', async () => {
  await withSession(new ToyVfs(), async (h) => {
    await init(h);
    const created = await h.call(
      Op.CREATE,
      ROOT,
      new Bytes()
        .u32(0o101) // flags: O_WRONLY | O_CREAT
        .u32(0o100600) // mode
        .u32(0o022) // umask
        .u32(0) // open_flags
        .cstr('new'),
    );
    assert.equal(created.error, 0);
    assert.equal(created.payload.length, 128 + 16, 'fuse_entry_out then fuse_open_out');
    const mk = await h.call(
      Op.MKDIR,
      ROOT,
      new Bytes()
        .u32(0o755) // mode
        .u32(0) // umask
        .cstr('dir'),
    );
    const sl = await h.call(Op.SYMLINK, ROOT, new Bytes().cstr('ln').cstr('new'));
    for (const r of [created, mk, sl]) {
      assert.equal(r.error, 0);
      const id = readEntryOut(r.payload, 0).nodeid;
      assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, 0);
      h.send(request(Op.FORGET, h.unique(), id, forgetBody(1)));
      assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, -ENOENT);
    }
  });
});

test('busy-polling, and parking when idle, answer every request however requests are spaced', async () => {
  await withEachBusyPoll(async (h) => {
    for (let i = 0; i < 50; i++) assert.equal((await h.call(Op.GETATTR, ROOT, getattrBody())).error, 0, 'back to back');
    for (const pauseMs of [1, 5, 50]) {
      await new Promise((r) => setTimeout(r, pauseMs));
      assert.equal((await h.call(Op.GETATTR, ROOT, getattrBody())).error, 0, `after ${pauseMs} ms`);
    }
    assert.equal(h.session.parked, false, 'busy: waits on the main thread');
    // Idle long enough to wait off the main thread (20 empty 10 ms waits); the event loop keeps running.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    try {
      await waitFor(() => h.session.parked, 5000, 'the session to park');
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0);
    assert.equal((await h.call(Op.GETATTR, ROOT, getattrBody())).error, 0, 'after parking');
    assert.equal(h.session.parked, false, 'a request brings the wait back to the main thread');
  });
});

test('a session that goes quiet says so once per quiet spell', async () => {
  let quiet = 0;
  await withSession(
    new ToyVfs(),
    async (h) => {
      await init(h);
      await waitFor(() => h.session.parked, 5000, 'the session to park');
      assert.equal(quiet, 1, 'once the requests stopped');
      // Parked, it keeps waiting (one-second waits off the main thread) without saying it again.
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(quiet, 1, 'not again while still quiet');
      assert.equal((await h.call(Op.GETATTR, ROOT, getattrBody())).error, 0);
      await waitFor(() => h.session.parked, 5000, 'the session to park again');
      assert.equal(quiet, 2, 'again after the next request');
    },
    {},
    { onIdle: () => quiet++ },
  );
});

/** A client on another thread that sends each request as soon as the last reply came, as a tight stat loop does. */
const EAGER_CLIENT = `
const { workerData, parentPort } = require('node:worker_threads');
const { readSync, writeSync } = require('node:fs');
const { fd, req, total, progress } = workerData;
const reply = Buffer.alloc(4096);
let failed = 0;
for (let i = 0; i < total; i++) {
  writeSync(fd, req);
  for (;;) {
    try {
      readSync(fd, reply);
      break;
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
  if (reply.readInt32LE(4) !== 0) failed++;
  Atomics.store(progress, 0, i + 1);
}
parentPort.postMessage(failed);
`;

test('a client that always has its next request ready still leaves the event loop its turns', async () => {
  await withEachBusyPoll(async (h, busyPollMs) => {
    const total = 20000;
    const progress = new Int32Array(new SharedArrayBuffer(4));
    const req = request(Op.GETATTR, h.unique(), ROOT, getattrBody());
    const client = new Worker(EAGER_CLIENT, { eval: true, workerData: { fd: h.kernel, req, total, progress } });
    // What the client had done each time a timer of the session's thread ran.
    const seen: number[] = [];
    const timer = setInterval(() => seen.push(Atomics.load(progress, 0)), 1);
    try {
      const failed = await new Promise<number>((resolve, reject) => {
        client.once('message', resolve);
        client.once('error', reject);
      });
      assert.equal(failed, 0, 'every request answered');
    } finally {
      clearInterval(timer);
      await client.terminate();
    }
    const during = seen.filter((n) => n > 0 && n < total);
    assert.ok(
      during.length > 0,
      `busyPoll ${busyPollMs}: timers ran only before or after the client's ${total} requests: ${seen.join(',')}`,
    );
  });
});

test('READDIRPLUS counts one lookup per entry sent, except . and ..', async () => {
  const vfs = new ToyVfs();
  vfs.mkdir(ctx, '/d', 0o755);
  for (const n of ['a', 'b', 'c']) seedFile(vfs, `/d/${n}`, n);
  await withSession(vfs, async (h) => {
    await init(h);
    const dEntry = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('d'))).payload, 0);
    const d = dEntry.nodeid;
    const od = await h.call(Op.OPENDIR, d, openBody(0));
    assert.equal(od.error, 0);
    const fh = Number(od.payload.readBigUInt64LE(0));
    // Attributes come only once something under d was looked up after a listing of d.
    assert.equal((await h.call(Op.READDIR, d, readBody(fh, 0, 4096))).error, 0);
    assert.equal((await h.call(Op.LOOKUP, d, lookupBody('nope'))).error, -ENOENT);

    // Room for three 160-byte direntplus records only: '.', '..' and 'a'.
    const first = await h.call(Op.READDIRPLUS, d, readBody(fh, 0, 3 * 160 + 8));
    assert.equal(first.error, 0);
    const p1 = readDirents(first.payload, true);
    assert.deepEqual(
      p1.map((e) => e.name),
      ['.', '..', 'a'],
    );
    assert.deepEqual(
      p1.map((e) => e.off),
      [1, 2, 3],
    );
    assert.equal(p1[0].entry!.nodeid, 0, "'.' carries no entry: the kernel must not count it");
    assert.equal(p1[1].entry!.nodeid, 0);
    assert.equal(p1[0].ino, dEntry.attr.ino, "'.' carries the directory's inode number (glibc hides d_ino 0)");
    assert.equal(p1[0].type, 4, 'DT_DIR');

    const rest = await h.call(Op.READDIRPLUS, d, readBody(fh, 3, 4096));
    const p2 = readDirents(rest.payload, true);
    assert.deepEqual(
      p2.map((e) => [e.name, e.off]),
      [
        ['b', 4],
        ['c', 5],
      ],
    );
    const end = await h.call(Op.READDIRPLUS, d, readBody(fh, 5, 4096));
    assert.equal(end.payload.length, 0, 'an empty reply ends the listing');

    const ids = [p1[2], ...p2].map((e) => {
      assert.ok(e.entry!.nodeid > ROOT);
      assert.equal(e.entry!.attr.ino, e.ino);
      assert.equal(e.entry!.attr.size, 1);
      assert.equal(e.type, 8, 'DT_REG');
      return e.entry!.nodeid;
    });
    for (const id of ids) assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, 0);
    // Exactly one lookup each: one FORGET each removes them all.
    for (const id of ids) h.send(request(Op.FORGET, h.unique(), id, forgetBody(1)));
    for (const id of ids) assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, -ENOENT);

    // Plain READDIR counts nothing: a LOOKUP then one FORGET removes the node.
    const plain = await h.call(Op.READDIR, d, readBody(fh, 0, 4096));
    assert.deepEqual(
      readDirents(plain.payload, false).map((e) => e.name),
      ['.', '..', 'a', 'b', 'c'],
    );
    // Pages of plain records: whole records only, each carrying the offset the next page starts from.
    const firstPage = readDirents((await h.call(Op.READDIR, d, readBody(fh, 0, 3 * 32 + 31))).payload, false);
    assert.deepEqual(
      firstPage.map((e) => [e.name, e.off]),
      [
        ['.', 1],
        ['..', 2],
        ['a', 3],
      ],
    );
    const nextPage = readDirents((await h.call(Op.READDIR, d, readBody(fh, 3, 4096))).payload, false);
    assert.deepEqual(
      nextPage.map((e) => [e.name, e.off, e.type]),
      [
        ['b', 4, 8],
        ['c', 5, 8],
      ],
    );
    const a = readEntryOut((await h.call(Op.LOOKUP, d, lookupBody('a'))).payload, 0).nodeid;
    h.send(request(Op.FORGET, h.unique(), a, forgetBody(1)));
    assert.equal((await h.call(Op.GETATTR, a, getattrBody())).error, -ENOENT);

    const rel = await h.call(
      Op.RELEASEDIR,
      d,
      new Bytes()
        .u64(fh) // fh
        .u32(0) // flags
        .u32(0) // release_flags
        .u64(0), // lock_owner
    );
    assert.equal(rel.error, 0);
  });
});

test('READDIR goes on after a cookie another handle sent, past entries removed since', async () => {
  const vfs = new ToyVfs();
  vfs.mkdir(ctx, '/d', 0o755);
  for (const n of ['a', 'b', 'c', 'e']) seedFile(vfs, `/d/${n}`, n);
  await withSession(vfs, async (h) => {
    await init(h);
    const d = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('d'))).payload, 0).nodeid;
    const opendir = async (): Promise<number> => Number((await h.call(Op.OPENDIR, d, openBody(0))).payload.readBigUInt64LE(0));
    const page = async (fh: number, offset: number, size = 4096): Promise<[string, number][]> =>
      readDirents((await h.call(Op.READDIR, d, readBody(fh, offset, size))).payload, false).map((e) => [e.name, e.off]);

    const first = await opendir();
    const head = await page(first, 0, 4 * 32); // '.', '..', 'a', 'b'
    assert.deepEqual(
      head.map(([name]) => name),
      ['.', '..', 'a', 'b'],
    );
    const afterB = head[3][1];
    await vfs.unlink(ctx, '/d/b');
    await vfs.unlink(ctx, '/d/c');
    seedFile(vfs, '/d/f', 'f');
    // What the kernel does when it drops its kept copy of the listing midway: the next page is asked of
    // whichever handle the reader holds, after the last cookie it handed out.
    const second = await opendir();
    assert.deepEqual(
      (await page(second, afterB)).map(([name]) => name),
      ['e', 'f'],
    );
    const [, afterF] = (await page(second, afterB)).at(-1)!;
    assert.deepEqual(await page(second, 1000), [], 'after a cookie past the end: nothing');
    assert.deepEqual(await page(second, afterF), [], 'and after the last: nothing, not what the listing before held');
    assert.deepEqual(
      (await page(first, afterB)).map(([name]) => name),
      ['c', 'e'],
      'the first handle goes on in the listing it took',
    );
    assert.deepEqual(
      (await page(first, head[2][1])).map(([name]) => name),
      ['b', 'c', 'e'],
      'and seeks back in it',
    );
  });
});

test('a READDIR asking for more than INIT negotiated gets a page no larger than that, and the rest after it', async () => {
  const vfs = new ToyVfs({ maxInodes: 6000 });
  vfs.mkdir(ctx, '/big', 0o755);
  const files = 5000; // 32-byte records: 160 KiB of them, more than the 128 KiB a page may hold here
  for (let i = 0; i < files; i++) seedFile(vfs, `/big/f${String(i).padStart(4, '0')}`, '');
  await withSession(
    vfs,
    async (h) => {
      await init(h);
      const d = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('big'))).payload, 0).nodeid;
      const fh = Number((await h.call(Op.OPENDIR, d, openBody(0))).payload.readBigUInt64LE(0));
      const names: string[] = [];
      let offset = 0;
      for (let pages = 1; ; pages++) {
        const r = await h.call(Op.READDIR, d, readBody(fh, offset, 0xffffffff)); // a malformed size: 4 GiB
        assert.equal(r.error, 0);
        assert.ok(r.payload.length <= 128 * 1024, `a page of ${r.payload.length} bytes`);
        const page = readDirents(r.payload, false);
        if (page.length === 0) {
          assert.equal(pages, 3, 'two pages, then the end');
          break;
        }
        names.push(...page.map((e) => e.name));
        offset = page.at(-1)!.off;
      }
      assert.equal(names.length, files + 2, 'every entry once, . and .. included');
      assert.equal(new Set(names).size, files + 2);
    },
    { maxWrite: 4096 },
  );
});

test('READDIRPLUS carries attributes only for a directory whose children were looked up after a listing', async () => {
  const vfs = new ToyVfs();
  vfs.mkdir(ctx, '/d', 0o755);
  for (const n of ['a', 'b']) seedFile(vfs, `/d/${n}`, n);
  await withSession(vfs, async (h) => {
    await init(h);
    const d = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('d'))).payload, 0).nodeid;
    const fh = Number((await h.call(Op.OPENDIR, d, openBody(0))).payload.readBigUInt64LE(0));
    const plusEntries = async (): Promise<number[]> =>
      readDirents((await h.call(Op.READDIRPLUS, d, readBody(fh, 0, 4096))).payload, true)
        .filter((e) => e.name !== '.' && e.name !== '..')
        .map((e) => e.entry!.nodeid);

    assert.deepEqual(await plusEntries(), [0, 0], 'a first listing (ls, find) stats nothing');
    assert.deepEqual(await plusEntries(), [0, 0], 'nor does a second with no lookup in between');
    const a = readEntryOut((await h.call(Op.LOOKUP, d, lookupBody('a'))).payload, 0).nodeid;
    const ids = await plusEntries();
    assert.equal(ids[0], a, 'after a lookup (ls -l), the next listing carries attributes');
    assert.ok(ids[1] > ROOT);
    assert.equal((await plusEntries())[0], a, 'and keeps doing so (the kernel answers the next stats itself)');
  });
});

test('a header whose len differs from the bytes read is EINVAL', async () => {
  await withSession(new ToyVfs(), async (h) => {
    await init(h);
    for (const lenDelta of [8, -1, -40, 1 << 20]) {
      const r = await h.call(Op.GETATTR, ROOT, getattrBody(), { lenDelta });
      assert.equal(r.error, -EINVAL, `len off by ${lenDelta}`);
    }
    // Shorter than fuse_in_header: there is no unique to answer to.
    h.send(Buffer.alloc(39));
    assert.equal((await h.call(Op.GETATTR, ROOT, getattrBody())).error, 0);
  });
});

test('replies carry the request unique, whatever its bits', async () => {
  await withSession(new ToyVfs(), async (h) => {
    await init(h);
    for (const unique of [2, 2 ** 32, 2 ** 32 + 2, 0xffff_fffe, 2 ** 52 + 4, 2 ** 53 - 2]) {
      h.send(request(Op.GETATTR, unique, ROOT, getattrBody()));
      const r = await h.recv();
      assert.equal(r.unique, BigInt(unique));
      assert.equal(r.error, 0);
    }
  });
});

test('asynchronous answers: replies follow completion, interrupts abort, request buffers are not reused early', async () => {
  let slow = false;
  const vfs = new ToyVfs({ async: () => slow });
  seedFile(vfs, '/f', '');
  slow = true;
  await withSession(vfs, async (h) => {
    await init(h);
    const id = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0).nodeid;
    const fh = Number((await h.call(Op.OPEN, id, openBody(2))).payload.readBigUInt64LE(0));

    // Many writes in flight at once: each must see its own data, not bytes of
    // a later request read into the same buffer.
    const uniques = new Map<bigint, number>();
    for (let i = 0; i < 16; i++) {
      const u = h.unique();
      uniques.set(BigInt(u), i);
      h.send(
        request(
          Op.WRITE,
          u,
          id,
          new Bytes()
            .u64(fh) // fh
            .u64(i * 4) // offset
            .u32(4) // size
            .u32(0) // write_flags
            .u64(0) // lock_owner
            .u32(2) // flags
            .u32(0) // padding
            .raw(Buffer.from(`w${i.toString(16)}${i.toString(16)}.`)),
        ),
      );
    }
    for (let i = 0; i < 16; i++) {
      const r = await h.recv();
      assert.ok(uniques.delete(r.unique), `reply to unknown unique ${r.unique}`);
      assert.equal(r.error, 0);
      assert.equal(r.payload.readUInt32LE(0), 4);
    }
    const rd = await h.call(Op.READ, id, readBody(fh, 0, 4096));
    const expected = Array.from({ length: 16 }, (_, i) => `w${i.toString(16)}${i.toString(16)}.`).join('');
    assert.equal(rd.payload.toString(), expected);

    // An interrupt that arrives while the request is in flight.
    const u1 = h.unique();
    h.send(request(Op.GETATTR, u1, id, getattrBody()));
    h.send(request(Op.INTERRUPT, u1 + 1, 0, new Bytes().u64(u1))); // fuse_interrupt_in.unique
    const r1 = await h.recv();
    assert.equal(r1.unique, BigInt(u1));
    assert.equal(r1.error, -EINTR);

    // One that overtakes its request, as the kernel queues interrupts first.
    const u2 = h.unique();
    h.send(request(Op.INTERRUPT, u2 + 1, 0, new Bytes().u64(u2)));
    h.send(request(Op.GETATTR, u2, id, getattrBody()));
    const r2 = await h.recv();
    assert.equal(r2.unique, BigInt(u2));
    assert.equal(r2.error, -EINTR);

    // Uninterrupted requests still succeed.
    assert.equal((await h.call(Op.GETATTR, id, getattrBody())).error, 0);
    assert.equal(h.session.pending, 0);
  });
});

test('READ reply buffers are reused only once written: replies in flight together keep their own bytes', async () => {
  let slow = false;
  const vfs = new ToyVfs({ async: () => slow });
  const content = Array.from({ length: 16 }, (_, i) => String.fromCharCode(65 + i).repeat(4096)).join('');
  seedFile(vfs, '/f', content);
  await withSession(vfs, async (h) => {
    await init(h);
    const id = readEntryOut((await h.call(Op.LOOKUP, ROOT, lookupBody('f'))).payload, 0).nodeid;
    const fh = Number((await h.call(Op.OPEN, id, openBody(0))).payload.readBigUInt64LE(0));
    for (const async of [true, false, true]) {
      slow = async;
      const offsets = new Map<bigint, number>();
      for (let i = 0; i < 16; i++) {
        const u = h.unique();
        offsets.set(BigInt(u), i * 4096);
        h.send(request(Op.READ, u, id, readBody(fh, i * 4096, 4096)));
      }
      for (let i = 0; i < 16; i++) {
        const r = await h.recv();
        const offset = offsets.get(r.unique);
        assert.ok(offset !== undefined, `reply to unknown unique ${r.unique}`);
        offsets.delete(r.unique);
        assert.equal(r.payload.toString(), content.slice(offset, offset + 4096), `READ at ${offset} (${async ? 'async' : 'sync'})`);
      }
    }
  });
});

test('a traced op is answered before its span is made, whether the loop sleeps or spins', async () => {
  for (const busyPollMs of [0, 0.2]) {
    let kernel = -1;
    const spans: Array<{ name: string; path: unknown; replied: boolean }> = [];
    const provider = new BasicTracerProvider({
      spanProcessors: [
        {
          onStart: () => {},
          // Whether the op's reply waits, unread, on the kernel's side when its span ends: the span must be
          // made between the reply and the loop's next look for a request, before this test reads the reply.
          onEnd: (span: ReadableSpan) =>
            void spans.push({ name: span.name, path: span.attributes['fs.path'], replied: sys.pollOne(kernel, sys.POLLIN, 0) > 0 }),
          forceFlush: async () => {},
          shutdown: async () => {},
        },
      ],
    });
    const vfs = createStack(new ToyVfs(), [createTraceLayer(provider.getTracer('test'), {})]);
    await withSession(
      vfs,
      async (h) => {
        kernel = h.kernel;
        await init(h);
        const r = await h.call(Op.GETATTR, ROOT, getattrBody());
        assert.equal(r.error, 0);
        await waitFor(() => spans.length > 0, 5000, 'the getattr span');
        assert.deepEqual(spans, [{ name: 'getattr', path: '/', replied: true }], `busy-poll ${busyPollMs} ms`);
      },
      {},
      { busyPollMs },
    );
  }
});

test('closing the peer ends the session', async () => {
  const h = new Harness(new ToyVfs());
  await init(h);
  let ended = false;
  void h.session.ended.then(() => (ended = true));
  assert.equal(ended, false);
  await h.close();
  assert.equal(ended, true);
});
