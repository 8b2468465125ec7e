// The request loop of one /dev/fuse connection.
//
// Requests are handled on the thread that reads them: a hop between threads
// costs more than a request (shared/notes/fuse-calibration.md). The fd is
// non-blocking; while the queue has requests we drain it in batches, yielding
// to the event loop between batches. When it is empty and nothing is in flight
// we wait in a short blocking poll(2) (the cheapest wake-up), after an optional
// busy-poll (fuse/busy-poll.ts); when asynchronous work is in flight (a delay, a
// throttle wait, an fsync), or the mount has been idle for a while, we wait
// with poll(2) on a helper thread so that promises and timers keep running and
// an idle mount costs nothing, and come back once the last asynchronous reply is
// written. With FUSE over io_uring negotiated (fuse/ring.ts)
// requests arrive in ring entries instead, and /dev/fuse carries only FORGET
// and INTERRUPT.
import * as sys from '../sys/libc.ts';
import { EAGAIN, EINTR, EINVAL, EIO, ENOENT, ENOSYS, errnoName, toErrno } from '../vfs/errors.ts';
import { log } from '../util/log.ts';
import { Op, OUT_HEADER_SIZE, opName } from './abi.ts';
import { ProtocolError, Reader } from './reader.ts';
import { decoders, decodeHeader, type InHeader, type RequestName, type Requests } from './requests.ts';
import { ReplyPool, type Reply } from './replies.ts';
import { BusyPoll } from './busy-poll.ts';
import { Interrupts } from './interrupts.ts';
import { putU32, putU64 } from '../util/le.ts';
import { DEV_POLL_TAG, FuseRing, type RingOptions } from './ring.ts';
import type { MaybePromise } from '../vfs/types.ts';
import { performance } from '../util/clock.ts';

export type Handler<K extends RequestName> = (h: InHeader, req: Requests[K]) => MaybePromise<Reply>;
export type Handlers = { [K in RequestName]?: Handler<K> };

/** Opcodes the kernel expects no reply to. */
const NO_REPLY = new Set<number>([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);
/** Opcodes whose decoded request holds a view into the read buffer. */
const HOLDS_BUFFER = new Set<number>([Op.WRITE, Op.SETXATTR]);

const ENODEV = 19;
const EBUSY = 16;
const ETIME = 62;
const ENOTCONN = 107;
const ECANCELED = 125;
const ECONNABORTED = 103;
/** Longest the event loop waits for a turn: the blocking wait while idle, and the loop while requests keep coming. */
const IDLE_POLL_MS = 10;
/** Empty IDLE_POLL_MS waits after which the session waits off the main thread. */
const IDLE_WAITS_BEFORE_PARKING = 20;
/** Requests handled before yielding to the event loop. */
const BATCH = 64;

interface Dispatch {
  name: RequestName;
  decode: (r: Reader) => unknown;
  handle: (h: InHeader, req: unknown) => MaybePromise<Reply>;
}

export interface SessionOptions {
  /** Size of each read buffer: max_write plus room for headers. */
  bufferSize: number;
  /** Longest busy-poll for the next request before sleeping, in ms; 0 never busy-polls. */
  busyPollMs?: number;
  /** Work no request waits for, done in slices whenever no request is queued. */
  background?: BackgroundWork;
  /** Called each time the mount goes quiet (IDLE_WAITS_BEFORE_PARKING empty waits in a row): memory a burst left can go back. */
  onIdle?: () => void;
}

/** Deferred work the loop does between requests (forgets, vfs/node-table.ts). */
export interface BackgroundWork {
  readonly pending: boolean;
  /** Does a slice short enough that a request arriving meanwhile waits little. */
  slice(): void;
}

export class FuseSession {
  readonly fd: number;
  private readonly table: Array<Dispatch | undefined> = [];
  private readonly bufferSize: number;
  private buf: Buffer;
  private readonly spare: Buffer[] = [];
  private readonly header = Buffer.alloc(OUT_HEADER_SIZE);
  /** The cursor every request is decoded with: one for the session, not an allocation per request. */
  private readonly reader = new Reader(Buffer.alloc(0), 0, 0);
  /** Buffers for large replies, returned here once written. */
  readonly replies: ReplyPool;
  private inflight = 0;
  /** Whether the loop waits for the next request on a helper thread (waitOffThread()), and on which fd a poll is pending there (-1: none). */
  private waitingOffThread = false;
  private offThreadPoll = -1;
  /** Blocking waits in a row that timed out with nothing to read. */
  private idleWaits = 0;
  /** Null unless mount.busyPoll is set: then the loop spins before it sleeps. */
  private readonly busyPoll: BusyPoll | null;
  private readonly background: BackgroundWork | null;
  private readonly onIdle: (() => void) | null;
  private readonly interrupts = new Interrupts();
  private stopped = false;
  /** Set once FUSE over io_uring serves this connection (after INIT); /dev/fuse then only carries FORGET and INTERRUPT. */
  private ring: FuseRing | null = null;
  private ringPending: RingOptions | null = null;
  /** Whether the poll on /dev/fuse that the ring waits on needs re-arming. */
  private devPollDue = false;
  /** Inside the ring loop, which submits queued replies itself; outside it, a microtask does. */
  private pumping = false;
  private submitQueued = false;
  /** Per opcode: requests answered, and seconds spent answering them once timeRequests() was called. */
  readonly opCounts = new Float64Array(64);
  readonly opSeconds = new Float64Array(64);
  private timing = false;
  private endResolve!: () => void;
  /** Resolves when the kernel closes the connection (unmount or abort). */
  readonly ended: Promise<void>;

  constructor(fd: number, handlers: Handlers, options: SessionOptions) {
    this.fd = fd;
    this.bufferSize = options.bufferSize;
    this.buf = Buffer.allocUnsafe(this.bufferSize);
    this.replies = new ReplyPool(this.bufferSize);
    this.busyPoll = options.busyPollMs ? new BusyPoll(options.busyPollMs) : null;
    this.background = options.background ?? null;
    this.onIdle = options.onIdle ?? null;
    this.ended = new Promise((resolve) => (this.endResolve = resolve));
    for (const [name, code] of Object.entries(Op)) {
      const handle = handlers[name as RequestName];
      const decode = decoders[name as RequestName];
      if (handle) this.table[code] = { name: name as RequestName, decode, handle: handle as Dispatch['handle'] };
    }
  }

  /**
   * Keeps opSeconds from now on (the demo's table shows them). Off by default: two clock reads a
   * request that no mount otherwise uses (bench/RESULTS.md item 54).
   */
  timeRequests(): void {
    this.timing = true;
  }

  /** Starts serving; returns at once. Await `ended` for the end. */
  start(): void {
    setImmediate(() => this.pump());
  }

  /** Idle long enough that the loop waits for requests off the main thread. */
  get parked(): boolean {
    return this.idleWaits >= IDLE_WAITS_BEFORE_PARKING;
  }

  /** Requests currently being answered asynchronously. */
  get pending(): number {
    return this.inflight;
  }

  /** Whether other requests wait while the current one is handled: answered asynchronously, or queued unread. */
  othersWaiting(): boolean {
    if (this.inflight > 0) return true;
    if (this.ring) return this.ring.uring.ready;
    return sys.pollOne(this.fd, sys.POLLIN, 0) > 0;
  }

  /** An AbortSignal that fires when the kernel interrupts request `unique` of a caller being killed (interrupts.ts). */
  signalFor(unique: number, pid: number): AbortSignal {
    return this.interrupts.signalFor(unique, pid);
  }

  /** Decodes `name` with `decode` from now on: INIT chose another layout of its request. */
  redecode<N extends RequestName>(name: N, decode: (r: Reader) => Requests[N]): void {
    const entry = this.table[Op[name]];
    if (entry) entry.decode = decode;
  }

  /**
   * Serve this connection through io_uring once the INIT reply is written;
   * called from the INIT handler with the sizes it negotiated.
   */
  useRingAfterInit(options: RingOptions): void {
    this.ringPending = options;
  }

  private startRing(options: RingOptions): void {
    const ring = FuseRing.create(this.fd, options);
    if (typeof ring === 'number') {
      log.warn({ errno: errnoName(-ring) }, 'FUSE over io_uring unavailable; serving through /dev/fuse');
      return;
    }
    this.ring = ring;
    ring.register();
    ring.uring.enter(0);
    log.info({ queues: options.queues, depth: options.depth }, 'serving requests through FUSE over io_uring');
  }

  private pump(): void {
    if (this.ring) return this.pumpRing(this.ring);
    const fd = this.fd;
    const turnDue = performance.now() + IDLE_POLL_MS;
    for (;;) {
      if (this.stopped) return;
      // A client that always has the next request ready when we look would keep the event loop
      // (control socket, metrics scrapes, timers, signals) waiting for as long as it runs.
      if (performance.now() >= turnDue) {
        setImmediate(() => this.pump());
        return;
      }
      let n = 0;
      for (; n < BATCH; n++) {
        const len = sys.read(fd, this.buf, this.bufferSize);
        if (len > 0) {
          this.idleWaits = 0;
          this.dispatch(this.buf, 0, len, -1);
          if (this.ring) {
            setImmediate(() => this.pump());
            return;
          }
          continue;
        }
        if (len === -EAGAIN) break;
        if (len === -EINTR || len === -ENOENT) continue;
        // 0 (end of file) only comes from a socket standing in for /dev/fuse in tests.
        this.finish(len === 0 || len === -ENODEV || len === -ECONNABORTED ? null : len);
        return;
      }
      if (n === BATCH) {
        setImmediate(() => this.pump());
        return;
      }
      if (this.background?.pending) {
        this.background.slice();
        continue;
      }
      // Promises and timers must run while we wait for the next request; and a mount idle for a while
      // waits there too, so that it costs no CPU rather than IDLE_POLL_MS wake-ups (the first request
      // after the pause pays one thread hop).
      if (this.inflight > 0 || this.parked) {
        this.waitOffThread(fd);
        return;
      }
      const spinner = this.busyPoll;
      const dry = spinner ? performance.now() : 0;
      if (spinner?.spin(fd)) continue;
      const r = sys.pollOne(fd, sys.POLLIN, IDLE_POLL_MS);
      if (r <= 0) this.waitedIdle();
      spinner?.slept(r > 0 ? performance.now() - dry : Infinity);
      if (r <= 0 || this.inflight > 0) {
        setImmediate(() => this.pump());
        return;
      }
      // Readable (or hung up: the next read reports it); loop without yielding.
    }
  }

  /**
   * The loop while io_uring delivers requests: completions are read from shared
   * memory, replies are queued as SQEs, and one io_uring_enter both hands them
   * to the kernel and waits for the next request.
   */
  private pumpRing(ring: FuseRing): void {
    this.pumping = true;
    try {
      this.serveRing(ring);
    } finally {
      this.pumping = false;
    }
  }

  private serveRing(ring: FuseRing): void {
    const uring = ring.uring;
    const turnDue = performance.now() + IDLE_POLL_MS;
    for (;;) {
      if (this.stopped) return;
      if (performance.now() >= turnDue) {
        uring.enter(0);
        setImmediate(() => this.pump());
        return;
      }
      let n = 0;
      while (n < BATCH && uring.ready) n += uring.reap(this.onCompletion);
      if (this.stopped) return;
      if (this.devPollDue) {
        this.devPollDue = false;
        if (!this.drainDevice()) return;
        ring.pollDevice();
      }
      if (n > 0) this.idleWaits = 0;
      if (n >= BATCH) {
        uring.enter(0);
        setImmediate(() => this.pump());
        return;
      }
      if (n > 0) continue;
      if (this.background?.pending) {
        uring.enter(0); // the replies queued so far go first
        this.background.slice();
        continue;
      }
      if (this.inflight > 0 || this.parked) {
        uring.enter(0);
        this.waitOffThread(uring.fd);
        return;
      }
      const spinner = this.busyPoll;
      const dry = spinner ? performance.now() : 0;
      if (spinner) {
        uring.enter(0);
        if (spinner.spinUntil(() => uring.ready)) continue;
      }
      const r = uring.enter(IDLE_POLL_MS);
      const woke = uring.ready;
      if (!woke) this.waitedIdle();
      spinner?.slept(woke ? performance.now() - dry : Infinity);
      if (r < 0 && r !== -ETIME && r !== -EINTR && r !== -EBUSY) {
        log.error({ errno: errnoName(-r) }, 'io_uring_enter failed; ending the session');
        this.finish(r);
        return;
      }
      if (!woke || this.inflight > 0) {
        setImmediate(() => this.pump());
        return;
      }
    }
  }

  /** A blocking wait ended with nothing to read. */
  private waitedIdle(): void {
    if (++this.idleWaits === IDLE_WAITS_BEFORE_PARKING) this.onIdle?.();
  }

  private readonly onCompletion = (tag: number, res: number): void => {
    if (tag === DEV_POLL_TAG) {
      this.devPollDue = true;
      return;
    }
    if (res < 0) {
      // ENOTCONN/ECANCELED: the connection is going away; /dev/fuse reports the end.
      if (res !== -ENOTCONN && res !== -ECANCELED) log.warn({ entry: tag, errno: errnoName(-res) }, 'io_uring entry failed');
      return;
    }
    const ring = this.ring!;
    const req = ring.request(tag);
    if (typeof req === 'string') {
      log.warn({ err: req }, 'malformed request');
      const unique = ring.uniqueOf(tag);
      ring.commit(tag, unique, EINVAL);
      return;
    }
    this.dispatch(req.buf, req.start, req.end - req.start, tag);
  };

  /** Reads what /dev/fuse holds while the ring serves requests; false once the connection ended. */
  private drainDevice(): boolean {
    for (;;) {
      const len = sys.read(this.fd, this.buf, this.bufferSize);
      if (len > 0) {
        this.dispatch(this.buf, 0, len, -1);
        continue;
      }
      if (len === -EAGAIN) return true;
      if (len === -EINTR || len === -ENOENT) continue;
      this.finish(len === 0 || len === -ENODEV || len === -ECONNABORTED ? null : len);
      return false;
    }
  }

  private finish(errno: number | null): void {
    if (this.stopped) return;
    this.stopped = true;
    // Replies still pending have nowhere to go: the connection is gone.
    this.ring?.close();
    this.ring = null;
    if (errno !== null) log.error({ errno: errnoName(-errno) }, 'reading /dev/fuse failed; ending the session');
    this.endResolve();
  }

  /**
   * Decodes and answers one request of `len` bytes at `start` of `buf`;
   * `entry` is the ring entry it came in, or -1 for /dev/fuse.
   */
  private dispatch(buf: Buffer, start: number, len: number, entry: number): void {
    let h: InHeader;
    const r = this.reader.reset(buf, start, start + len);
    try {
      h = decodeHeader(r);
    } catch {
      log.warn({ len }, 'request shorter than fuse_in_header; ignored');
      return;
    }
    // A ring entry is only handed back with a reply, so whatever came in one is answered.
    const answers = entry >= 0 || !NO_REPLY.has(h.opcode);
    if (h.len !== len) {
      if (answers) this.reply(h.unique, EINVAL, entry);
      return;
    }
    // Before the handler table: interrupts are the session's own business, and
    // no handler set registers them.
    if (h.opcode === Op.INTERRUPT) {
      this.interrupt(r, h);
      return;
    }
    const handler = this.table[h.opcode];
    if (!handler) {
      if (answers) this.reply(h.unique, ENOSYS, entry);
      return;
    }
    let result: MaybePromise<Reply>;
    const started = this.timing ? performance.now() : 0;
    const op = h.opcode;
    try {
      result = handler.handle(h, handler.decode(r));
    } catch (err) {
      if (answers) this.reply(h.unique, this.errnoOf(err, h), entry);
      this.account(op, started);
      return;
    }
    if (result instanceof Promise) {
      this.inflight++;
      // A ring entry's buffers stay ours until we commit its reply.
      if (entry < 0 && HOLDS_BUFFER.has(h.opcode)) this.swapBuffer(buf, result);
      const unique = h.unique;
      result.then(
        (reply) => this.complete(unique, reply, op, started, entry),
        (err) => this.complete(unique, this.errnoOf(err, h), op, started, entry),
      );
      return;
    }
    if (answers) this.reply(h.unique, result, entry);
    this.interrupts.answered(h.unique);
    this.account(op, started);
    if (op === Op.INIT && this.ringPending) {
      const options = this.ringPending;
      this.ringPending = null;
      this.startRing(options);
    }
  }

  /** Answers through the ring entry the request came in, or through /dev/fuse. */
  private reply(unique: number, reply: Reply, entry: number): void {
    if (entry < 0) {
      this.send(unique, reply);
      return;
    }
    const ring = this.ring;
    if (!ring) return; // the session ended while the request was being answered
    ring.commit(entry, unique, reply);
    if (typeof reply !== 'number') this.replies.giveBack(reply);
    // Inside the loop the next enter submits it; an asynchronous reply must not wait for a request that may never come.
    if (!this.pumping && !this.submitQueued) {
      this.submitQueued = true;
      queueMicrotask(this.submitReplies);
    }
  }

  private readonly submitReplies = (): void => {
    this.submitQueued = false;
    this.ring?.uring.enter(0);
  };

  private account(op: number, started: number): void {
    if (op >= 64) return;
    this.opCounts[op]++;
    if (this.timing) this.opSeconds[op] += (performance.now() - started) / 1000;
  }

  private complete(unique: number, reply: Reply, op: number, started: number, entry: number): void {
    this.account(op, started);
    this.inflight--;
    this.interrupts.answered(unique);
    this.reply(unique, reply, entry);
    // The loop waited on a helper thread only for this reply's sake: back to the main thread, or the
    // client's next request (a write after an fsync) would be read only after a hop between threads.
    if (this.inflight === 0 && this.waitingOffThread && !this.parked) {
      this.waitingOffThread = false;
      setImmediate(() => this.pump());
    }
  }

  /**
   * Waits for `fd` to become readable on a helper thread, so that promises and timers run meanwhile,
   * then serves. At most one such poll(2) is pending: one the loop stopped waiting for (it went back
   * to the main thread) counts again, since a new one each time would pile up in the libuv pool
   * until the fsyncs and reads queued there behind them waited for their timeouts.
   */
  private waitOffThread(fd: number): void {
    this.waitingOffThread = true;
    if (this.offThreadPoll === fd) return;
    this.offThreadPoll = fd;
    sys.pollOneAsync(fd, sys.POLLIN, 1000).then(() => {
      if (this.offThreadPoll === fd) this.offThreadPoll = -1;
      if (!this.waitingOffThread) return;
      this.waitingOffThread = false;
      this.pump();
    });
  }

  /** The request still reads from `held`; read the next ones into another buffer. */
  private swapBuffer(held: Buffer, until: Promise<unknown>): void {
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(this.bufferSize);
    const giveBack = (): void => {
      if (this.spare.length < 8) this.spare.push(held);
    };
    until.then(giveBack, giveBack);
  }

  private interrupt(r: Reader, h: InHeader): void {
    let target: number;
    try {
      target = r.u64();
    } catch (err) {
      this.errnoOf(err, h); // logs it; an interrupt is never answered
      return;
    }
    this.interrupts.interrupt(target);
  }

  private errnoOf(err: unknown, h: InHeader): number {
    if (err instanceof ProtocolError) {
      log.warn({ op: opName(h.opcode), unique: h.unique, err: err.message }, 'malformed request');
      return EINVAL;
    }
    return toErrno(err, (e) => log.error({ op: opName(h.opcode), err: e }, 'unexpected error; answering EIO'));
  }

  /** Writes the one reply of request `unique`. */
  send(unique: number, reply: Reply): void {
    let out: Buffer;
    if (typeof reply === 'number') {
      out = this.header;
      putU32(out, OUT_HEADER_SIZE, 0);
      putU32(out, -reply, 4);
    } else {
      out = reply;
      putU32(out, out.length, 0);
      putU32(out, 0, 4);
    }
    putU64(out, unique, 8);
    const n = sys.write(this.fd, out, out.length);
    if (out !== this.header) this.replies.giveBack(out);
    // ENOENT: the request was interrupted or the connection aborted meanwhile.
    if (n < 0 && n !== -ENOENT && n !== -ENODEV) {
      log.warn({ unique, errno: errnoName(-n), len: out.length }, 'writing a reply failed');
      if (n === -EINVAL && typeof reply !== 'number') this.send(unique, EIO);
    }
  }
}
