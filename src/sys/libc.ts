// The one place that loads libc through FFI. Every wrapper returns the raw
// result, or a negative errno on failure, so hot paths never throw.
import koffi from 'koffi';

export const libc = koffi.load('libc.so.6');
export { koffi };

/** Raw result of a libc call: >= 0 as returned, or -errno. */
export function ret(value: number | bigint): number {
  const n = Number(value);
  return n < 0 ? -koffi.errno() : n;
}

const cRead = libc.func('long read(int fd, _Out_ uint8_t *buf, size_t count)');
const cWrite = libc.func('long write(int fd, const uint8_t *buf, size_t count)');
const cClose = libc.func('int close(int fd)');
const cPoll = libc.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
const cIoctl = libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');
const cFcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
const cOpen = libc.func('int open(const char *path, int flags, int mode)');
const cMount = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const cUmount2 = libc.func('int umount2(const char *target, int flags)');
const cGeteuid = libc.func('unsigned int geteuid()');
const cGetegid = libc.func('unsigned int getegid()');
const cMallopt = libc.func('int mallopt(int param, int value)');
const cExit = libc.func('void _exit(int status)');
const cSchedYield = libc.func('int sched_yield()');

/** read(2) into buf; bytes read or -errno. */
export function read(fd: number, buf: Buffer, length = buf.length): number {
  return ret(cRead(fd, buf, length));
}

/** write(2) from buf; bytes written or -errno. */
export function write(fd: number, buf: Buffer, length = buf.length): number {
  return ret(cWrite(fd, buf, length));
}

/**
 * write(2) on koffi's worker thread, for a write that may wait on the caller's own work (a
 * notification the kernel can only apply once requests we are yet to answer complete).
 */
export function writeAsync(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve) => {
    cWrite.async(fd, buf, buf.length, (err: unknown, r: number) => resolve(err ? -5 : r < 0 ? -koffi.errno() : r));
  });
}

export function close(fd: number): number {
  return ret(cClose(fd));
}

export function open(path: string, flags: number, mode = 0): number {
  return ret(cOpen(path, flags, mode));
}

/** sched_yield(2): lets a task waiting for this CPU run first; returns at once when none does. */
export function schedYield(): void {
  cSchedYield();
}

export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

const pollBuf = Buffer.alloc(8);
// struct pollfd { int fd; short events; short revents; }, through typed views: busy-polling calls this
// in a loop, where Buffer's read and write methods left garbage behind on every call.
const pollFd = new Int32Array(pollBuf.buffer, pollBuf.byteOffset, 1);
const pollEvents = new Int16Array(pollBuf.buffer, pollBuf.byteOffset + 4, 2);
/** poll(2) on one fd; returns revents (0 on timeout) or -errno. */
export function pollOne(fd: number, events: number, timeoutMs: number): number {
  pollFd[0] = fd;
  pollEvents[0] = events;
  pollEvents[1] = 0;
  const r = ret(cPoll(pollBuf, 1, timeoutMs));
  return r <= 0 ? r : pollEvents[1];
}

/** poll(2) on one fd on koffi's worker thread, so the event loop keeps running. */
export function pollOneAsync(fd: number, events: number, timeoutMs: number): Promise<number> {
  const buf = Buffer.alloc(8);
  buf.writeInt32LE(fd, 0);
  buf.writeInt16LE(events, 4);
  return new Promise((resolve) => {
    cPoll.async(buf, 1, timeoutMs, (err: unknown, r: number) => {
      if (err) resolve(-5);
      else resolve(r < 0 ? -koffi.errno() : r === 0 ? 0 : buf.readInt16LE(6));
    });
  });
}

export function ioctl(fd: number, request: number, arg: Buffer): number {
  return ret(cIoctl(fd, request, arg));
}

export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;

export function fcntl(fd: number, cmd: number, arg = 0): number {
  return ret(cFcntl(fd, cmd, arg));
}

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_DIRSYNC = 128;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_RELATIME = 1 << 21;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;

export function mount(source: string, target: string, fstype: string, flags: number, data: string): number {
  return ret(cMount(source, target, fstype, flags, data));
}

export function umount2(target: string, flags: number): number {
  return ret(cUmount2(target, flags));
}

export function geteuid(): number {
  return cGeteuid() as number;
}

export function getegid(): number {
  return cGetegid() as number;
}

const M_ARENA_MAX = -8;
/** mallopt(M_ARENA_MAX): how many malloc arenas threads may spread over (glibc); 1 when it fails elsewhere. */
export function limitMallocArenas(n: number): boolean {
  return (cMallopt(M_ARENA_MAX, n) as number) === 1;
}

let cMallocTrim: ((pad: number) => number) | null | undefined;

/**
 * malloc_trim(0): gives the pages of the C heap that hold only freed memory back to the system (glibc
 * keeps them otherwise, as RSS); true when it released some. A no-op where the C library has no such
 * call (musl).
 */
export function trimMallocHeap(): boolean {
  if (cMallocTrim === undefined) {
    try {
      cMallocTrim = libc.func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      cMallocTrim = null;
    }
  }
  return cMallocTrim !== null && cMallocTrim(0) === 1;
}

/** _exit(2): ends the process at once, without atexit handlers or anything of Node's own exit. */
export function exitImmediately(code: number): never {
  cExit(code);
  return process.exit(code); // not reached
}
