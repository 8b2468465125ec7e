// FUSE over io_uring (Linux 6.14+, fs/fuse/dev_uring.c): the kernel hands
// requests to ring entries we registered and takes each reply with the same
// command that asks for the next request (COMMIT_AND_FETCH). A sequential client
// then costs the daemon one io_uring_enter per request instead of a read, a
// write and a poll. FORGET, INTERRUPT and notifications still use /dev/fuse.
// Opt-in: one thread serving every per-CPU queue measured slower than /dev/fuse
// (docs/architecture.md, "FUSE over io_uring").
//
// Each entry owns a header area and a payload buffer, laid out so that the
// payload starts on a page right after the header:
//
//   [iovec x2][ ... ][in_out 128][op_in 128][ent_in_out 32][payload ...]
//                    ^ HEADER_AT                           ^ PAGE
//
// The kernel splits a request into fuse_in_header (in_out), the opcode's fixed
// struct (op_in) and the rest (payload). Moving the first two down to end
// right where the payload begins makes the request contiguous again, as
// /dev/fuse would have delivered it, at the price of copying at most 168 bytes.
import { readFileSync } from 'node:fs';
import { IORING_OP_URING_CMD, IORING_OP_POLL_ADD, Mapping, possibleCpus, SQE_CMD, Uring } from '../sys/uring.ts';
import { OUT_HEADER_SIZE } from './abi.ts';
import type { Reply } from './replies.ts';
import { putU32, putU64, u32, u64 } from '../util/le.ts';

const PAGE = 4096;
const IN_HEADER_SIZE = 40;
const IN_OUT_SIZE = 128;
const OP_IN_SIZE = 128;
const HEADER_SIZE = IN_OUT_SIZE + OP_IN_SIZE + 32;
const HEADER_AT = PAGE - HEADER_SIZE;
const OP_IN_AT = HEADER_AT + IN_OUT_SIZE;
const PAYLOAD_SZ_AT = OP_IN_AT + OP_IN_SIZE + 16;

const FUSE_IO_URING_CMD_REGISTER = 1;
const FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2;
const POLLIN = 1;

/** Completion tag of the poll on /dev/fuse; entries are tagged with their index. */
export const DEV_POLL_TAG = 0xffffffff;

/** The fuse module parameter the kernel reads at INIT to decide whether to offer io_uring. */
export const ENABLE_URING = '/sys/module/fuse/parameters/enable_uring';

/**
 * Whether this kernel would offer FUSE over io_uring: 'enabled', 'disabled'
 * (built in, but the fuse module parameter enable_uring is off) or 'absent'
 * (older than 6.14 or built without CONFIG_FUSE_IO_URING).
 */
export function ringSupport(): 'enabled' | 'disabled' | 'absent' {
  try {
    return readFileSync(ENABLE_URING, 'utf8').trim() === 'Y' ? 'enabled' : 'disabled';
  } catch {
    return 'absent';
  }
}

/** What to do when ringSupport() is not 'enabled'. */
export const RING_HOWTO = `FUSE over io_uring needs Linux 6.14+ built with CONFIG_FUSE_IO_URING and the fuse module parameter on: echo Y > ${ENABLE_URING}`;

/** Queues the kernel keeps: one per possible CPU. */
export function ringQueues(): number {
  try {
    return Math.max(1, possibleCpus(readFileSync('/sys/devices/system/cpu/possible', 'utf8')));
  } catch {
    return 1;
  }
}

export interface RingOptions {
  /** Queues to register: the kernel keeps one per possible CPU and serves none until all have an entry. */
  queues: number;
  /** Entries per queue: requests of one queue the daemon can hold at once. */
  depth: number;
  /** Bytes each payload buffer must hold: the kernel's max(8 KiB, max_write, max_pages pages). */
  payloadSize: number;
}

/** A request delivered to an entry, as a contiguous span of `buf`. */
export interface RingRequest {
  buf: Buffer;
  start: number;
  end: number;
}

export class FuseRing {
  readonly uring: Uring;
  private readonly devFd: number;
  private readonly arena: Mapping;
  private readonly entrySize: number;
  private readonly depth: number;
  readonly entries: number;
  private readonly payloadSize: number;

  private constructor(devFd: number, uring: Uring, arena: Mapping, o: RingOptions, entrySize: number) {
    this.devFd = devFd;
    this.uring = uring;
    this.arena = arena;
    this.entrySize = entrySize;
    this.depth = o.depth;
    this.entries = o.queues * o.depth;
    this.payloadSize = o.payloadSize;
  }

  /** Sets up the ring and its buffers; -errno when io_uring or memory is refused. */
  static create(devFd: number, o: RingOptions): FuseRing | number {
    const entries = o.queues * o.depth;
    const uring = Uring.create(entries + 8);
    if (typeof uring === 'number') return uring;
    const entrySize = PAGE + Math.ceil(o.payloadSize / PAGE) * PAGE;
    // Anonymous memory: only the pages a request or reply touches become resident.
    const arena = Mapping.map(entrySize * entries);
    if (typeof arena === 'number') {
      uring.close();
      return arena;
    }
    return new FuseRing(devFd, uring, arena, o, entrySize);
  }

  /** Queues the registration of every entry and the first poll of /dev/fuse. */
  register(): void {
    const arena = this.arena.buf;
    for (let i = 0; i < this.entries; i++) {
      const base = i * this.entrySize;
      const address = this.arena.address + BigInt(base);
      arena.writeBigUInt64LE(address + BigInt(HEADER_AT), base);
      arena.writeBigUInt64LE(BigInt(HEADER_SIZE), base + 8);
      arena.writeBigUInt64LE(address + BigInt(PAGE), base + 16);
      arena.writeBigUInt64LE(BigInt(this.payloadSize), base + 24);
      const at = this.command(i, FUSE_IO_URING_CMD_REGISTER);
      const sqe = this.uring.sqeBuf;
      sqe.writeBigUInt64LE(address, at + 16);
      sqe.writeUInt32LE(2, at + 24);
    }
    this.pollDevice();
  }

  /** Asks for one completion when /dev/fuse has something to read (FORGET, INTERRUPT, or any request before the ring is ready). */
  pollDevice(): void {
    const at = this.sqeOn(IORING_OP_POLL_ADD, DEV_POLL_TAG);
    this.uring.sqeBuf.writeUInt32LE(POLLIN, at + 28);
  }

  /** The request entry `i` holds, made contiguous; a string says why it is malformed. */
  request(i: number): RingRequest | string {
    const buf = this.arena.buf;
    const base = i * this.entrySize;
    const h = base + HEADER_AT;
    const len = u32(buf, h);
    const payload = u32(buf, base + PAYLOAD_SZ_AT);
    const opSize = len - IN_HEADER_SIZE - payload;
    if (opSize < 0 || opSize > OP_IN_SIZE || payload > this.payloadSize) {
      return `ring entry ${i}: length ${len} does not fit a ${payload}-byte payload`;
    }
    const end = base + PAGE + payload;
    const start = base + PAGE - opSize - IN_HEADER_SIZE;
    if (opSize > 0) buf.copy(buf, base + PAGE - opSize, base + OP_IN_AT, base + OP_IN_AT + opSize);
    buf.copy(buf, start, h, h + IN_HEADER_SIZE);
    return { buf, start, end };
  }

  /** The unique id of the request entry `i` holds. */
  uniqueOf(i: number): number {
    const h = i * this.entrySize + HEADER_AT;
    return u64(this.arena.buf, h + 8);
  }

  /** Writes the reply to request `unique` into entry `i` and queues COMMIT_AND_FETCH. */
  commit(i: number, unique: number, reply: Reply): void {
    const buf = this.arena.buf;
    const base = i * this.entrySize;
    const h = base + HEADER_AT;
    let payload = 0;
    if (typeof reply === 'number') {
      putU32(buf, OUT_HEADER_SIZE, h);
      putU32(buf, -reply, h + 4);
    } else {
      payload = reply.length - OUT_HEADER_SIZE;
      if (payload > this.payloadSize) {
        putU32(buf, OUT_HEADER_SIZE, h);
        putU32(buf, -5, h + 4); // EIO: longer than any request the kernel can make
        payload = 0;
      } else {
        putU32(buf, reply.length, h);
        putU32(buf, 0, h + 4);
        reply.copy(buf, base + PAGE, OUT_HEADER_SIZE);
      }
    }
    putU64(buf, unique, h + 8);
    putU32(buf, payload, base + PAYLOAD_SZ_AT);
    const at = this.command(i, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
    putU64(this.uring.sqeBuf, unique, at + SQE_CMD + 8);
  }

  /** A URING_CMD SQE for entry `i`, with the entry's queue in fuse_uring_cmd_req. */
  private command(i: number, op: number): number {
    const at = this.sqeOn(IORING_OP_URING_CMD, i);
    const sqe = this.uring.sqeBuf;
    sqe.writeUInt32LE(op, at + 8);
    sqe.writeUInt16LE(Math.floor(i / this.depth), at + SQE_CMD + 16);
    return at;
  }

  /** A zeroed SQE of `opcode` on /dev/fuse, completing with `tag`; submits what is queued first if the ring is full. */
  private sqeOn(opcode: number, tag: number): number {
    let at = this.uring.nextSqe();
    if (at < 0) {
      this.uring.enter(0);
      at = this.uring.nextSqe();
    }
    const sqe = this.uring.sqeBuf;
    sqe[at] = opcode;
    sqe.writeInt32LE(this.devFd, at + 4);
    sqe.writeUInt32LE(tag, at + 32);
    return at;
  }

  close(): void {
    this.uring.close();
    this.arena.unmap();
  }
}
