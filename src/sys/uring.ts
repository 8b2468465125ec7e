// A minimal io_uring: one ring with 128-byte SQEs, driven from JavaScript through
// memory the kernel shares with us (mmap + koffi.view), so that queueing work
// and reaping completions cost no call at all, and waiting costs one syscall.
// Only what FUSE over io_uring needs: URING_CMD, POLL_ADD, waits with a timeout.
import { koffi, libc, ret } from './libc.ts';

const SYS_IO_URING_SETUP = 425;
const SYS_IO_URING_ENTER = 426;

const IORING_SETUP_CQSIZE = 1 << 3;
const IORING_SETUP_SQE128 = 1 << 10;
const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
const IORING_FEAT_SINGLE_MMAP = 1 << 0;
const IORING_FEAT_EXT_ARG = 1 << 8;

const IORING_ENTER_GETEVENTS = 1 << 0;
const IORING_ENTER_EXT_ARG = 1 << 3;

const IORING_OFF_SQ_RING = 0;
const IORING_OFF_SQES = 0x10000000;

export const IORING_OP_POLL_ADD = 6;
export const IORING_OP_URING_CMD = 46;

/** Bytes of one SQE in a ring set up with SQE128; the command area starts at SQE_CMD. */
export const SQE_SIZE = 128;
export const SQE_CMD = 48;
const CQE_SIZE = 16;
const PARAMS_SIZE = 120;

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_POPULATE = 0x8000;
const MAP_FAILED = 0xffffffffffffffffn;

const cSetup = libc.func('long syscall(long nr, unsigned int entries, _Inout_ uint8_t *params)');
const cEnter = libc.func(
  'long syscall(long nr, unsigned int fd, unsigned int toSubmit, unsigned int minComplete, unsigned int flags, uint64_t arg, size_t argsz)',
);
const cMmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)');
const cMunmap = libc.func('int munmap(void *addr, size_t length)');
const cClose = libc.func('int close(int fd)');

/** Memory mapped from the kernel or anonymous: a Buffer over it, and its address for the kernel. */
export class Mapping {
  readonly buf: Buffer;
  readonly address: bigint;
  private ptr: unknown;

  private constructor(ptr: unknown, length: number) {
    this.ptr = ptr;
    this.address = koffi.address(ptr);
    this.buf = Buffer.from(koffi.view(ptr, length));
  }

  /** Maps `length` bytes of `fd` at `offset` shared, or anonymous memory when fd is -1. */
  static map(length: number, fd = -1, offset = 0): Mapping | number {
    const flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED | MAP_POPULATE;
    const ptr = cMmap(null, length, PROT_READ | PROT_WRITE, flags, fd, offset);
    if (ptr === null || koffi.address(ptr) === MAP_FAILED) return -koffi.errno();
    return new Mapping(ptr, length);
  }

  unmap(): void {
    if (this.ptr === null) return;
    cMunmap(this.ptr, this.buf.length);
    this.ptr = null;
  }
}

export interface Completion {
  /** user_data of the SQE, as two 32-bit halves joined (exact below 2^53). */
  tag: number;
  /** The result: >= 0, or -errno. */
  res: number;
}

/**
 * One io_uring. Not thread-safe; the thread that created it must be the one
 * that submits (SINGLE_ISSUER), which in Node is the main thread.
 */
export class Uring {
  readonly fd: number;
  private readonly rings: Mapping;
  private readonly sqes: Mapping;
  private readonly sqHead: number;
  private readonly sqTail: number;
  private readonly sqMask: number;
  readonly sqEntries: number;
  private readonly cqHead: number;
  private readonly cqTail: number;
  private readonly cqMask: number;
  private readonly cqesOffset: number;
  private readonly words: Uint32Array;
  /** SQEs written since the last enter. */
  private unsubmitted = 0;
  private localTail: number;
  /** io_uring_getevents_arg followed by a __kernel_timespec. */
  private readonly waitArg: Mapping;

  private constructor(fd: number, params: Buffer, rings: Mapping, sqes: Mapping, waitArg: Mapping) {
    this.fd = fd;
    this.rings = rings;
    this.sqes = sqes;
    this.waitArg = waitArg;
    this.words = new Uint32Array(rings.buf.buffer, rings.buf.byteOffset, rings.buf.length >>> 2);
    this.sqEntries = params.readUInt32LE(0);
    this.sqHead = params.readUInt32LE(40) >>> 2;
    this.sqTail = params.readUInt32LE(44) >>> 2;
    this.sqMask = this.words[params.readUInt32LE(48) >>> 2]!;
    const sqArray = params.readUInt32LE(64) >>> 2;
    for (let i = 0; i < this.sqEntries; i++) this.words[sqArray + i] = i;
    this.cqHead = params.readUInt32LE(80) >>> 2;
    this.cqTail = params.readUInt32LE(84) >>> 2;
    this.cqMask = this.words[params.readUInt32LE(88) >>> 2]!;
    this.cqesOffset = params.readUInt32LE(100);
    this.localTail = this.words[this.sqTail]!;
    // getevents_arg: sigmask 0, sigmask_sz 0, min_wait 0, ts -> the timespec right after it.
    waitArg.buf.fill(0, 0, 40);
    waitArg.buf.writeBigUInt64LE(waitArg.address + 24n, 16);
  }

  /** A ring of `entries` SQEs (128 bytes each) and twice as many CQEs; -errno when the kernel refuses. */
  static create(entries: number): Uring | number {
    const params = Buffer.alloc(PARAMS_SIZE);
    params.writeUInt32LE(IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER, 8);
    params.writeUInt32LE(entries * 2, 4);
    const fd = ret(cSetup(SYS_IO_URING_SETUP, entries, params));
    if (fd < 0) return fd;
    const features = params.readUInt32LE(20);
    if (!(features & IORING_FEAT_SINGLE_MMAP) || !(features & IORING_FEAT_EXT_ARG)) {
      cClose(fd);
      return -95; // EOPNOTSUPP: kernels this old have no FUSE over io_uring either
    }
    const sqEntries = params.readUInt32LE(0);
    const cqEntries = params.readUInt32LE(4);
    const sqSize = params.readUInt32LE(64) + sqEntries * 4;
    const cqSize = params.readUInt32LE(100) + cqEntries * CQE_SIZE;
    const rings = Mapping.map(Math.max(sqSize, cqSize), fd, IORING_OFF_SQ_RING);
    if (typeof rings === 'number') {
      cClose(fd);
      return rings;
    }
    const sqes = Mapping.map(sqEntries * SQE_SIZE, fd, IORING_OFF_SQES);
    const waitArg = Mapping.map(4096);
    if (typeof sqes === 'number' || typeof waitArg === 'number') {
      rings.unmap();
      if (typeof sqes !== 'number') sqes.unmap();
      if (typeof waitArg !== 'number') waitArg.unmap();
      cClose(fd);
      return typeof sqes === 'number' ? sqes : (waitArg as number);
    }
    return new Uring(fd, params, rings, sqes, waitArg);
  }

  /**
   * The offset in `sqeBuf` of a zeroed SQE to fill, queued for the next enter;
   * -1 when the submission queue is full (enter first).
   */
  nextSqe(): number {
    const head = Atomics.load(this.words, this.sqHead);
    if ((this.localTail - head) >>> 0 >= this.sqEntries) return -1;
    const at = (this.localTail & this.sqMask) * SQE_SIZE;
    this.sqes.buf.fill(0, at, at + SQE_SIZE);
    this.localTail = (this.localTail + 1) >>> 0;
    this.unsubmitted++;
    return at;
  }

  get sqeBuf(): Buffer {
    return this.sqes.buf;
  }

  /**
   * Hands queued SQEs to the kernel and, when `waitMs` > 0, waits up to that
   * long for at least one completion. Returns SQEs consumed, or -errno
   * (ETIME and EINTR are normal ends of a wait).
   */
  enter(waitMs: number): number {
    Atomics.store(this.words, this.sqTail, this.localTail);
    const toSubmit = this.unsubmitted;
    let r: number;
    if (waitMs > 0) {
      const arg = this.waitArg.buf;
      arg.writeUInt32LE(Math.floor(waitMs / 1000), 24);
      arg.writeUInt32LE(0, 28);
      arg.writeUInt32LE(Math.round((waitMs % 1000) * 1e6), 32);
      r = ret(cEnter(SYS_IO_URING_ENTER, this.fd, toSubmit, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, this.waitArg.address, 24));
    } else {
      r = ret(cEnter(SYS_IO_URING_ENTER, this.fd, toSubmit, 0, IORING_ENTER_GETEVENTS, 0n, 0));
    }
    // The kernel consumes SQEs on submit even when the wait then fails.
    const consumed = (Atomics.load(this.words, this.sqHead) - (this.localTail - toSubmit)) >>> 0;
    this.unsubmitted = toSubmit - Math.min(consumed, toSubmit);
    return r;
  }

  /** True when a completion is waiting to be reaped. */
  get ready(): boolean {
    return this.words[this.cqHead] !== Atomics.load(this.words, this.cqTail);
  }

  /** Calls `onCompletion` for each waiting completion, then frees their slots; returns how many. */
  reap(onCompletion: (tag: number, res: number) => void): number {
    const words = this.words;
    let head = words[this.cqHead]!;
    const tail = Atomics.load(words, this.cqTail);
    let n = 0;
    const buf = this.rings.buf;
    while (head !== tail) {
      const at = this.cqesOffset + (head & this.cqMask) * CQE_SIZE;
      const tag = buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 2 ** 32;
      const res = buf.readInt32LE(at + 8);
      head = (head + 1) >>> 0;
      // Free the slot before the callback, which may queue and submit more work.
      Atomics.store(words, this.cqHead, head);
      onCompletion(tag, res);
      n++;
    }
    return n;
  }

  close(): void {
    cClose(this.fd);
    this.sqes.unmap();
    this.rings.unmap();
    this.waitArg.unmap();
  }
}

/** How many CPUs a kernel CPU list ("0-3,8") names: FUSE keeps num_possible_cpus() queues. */
export function possibleCpus(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    const [lo, hi] = part.split('-').map(Number);
    if (Number.isInteger(lo)) n += Number.isInteger(hi) ? hi! - lo! + 1 : 1;
  }
  return n;
}
