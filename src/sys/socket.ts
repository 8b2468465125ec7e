// Unix sockets Node cannot make: socketpair(2), and messages that carry file
// descriptors (SCM_RIGHTS). fusermount3 hands an unprivileged mount's
// /dev/fuse fd back this way, and the CSI plugin hands each volume's fd to the
// mounter that runs its daemon. Everything here is synchronous; callers wait
// for readiness with pollOneAsync (libc.ts) or hand a connected fd to
// node:net for plain data.
import { koffi, libc, ret } from './libc.ts';

const cSocketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const cSocket = libc.func('int socket(int domain, int type, int protocol)');
const cBind = libc.func('int bind(int fd, const uint8_t *addr, uint32_t len)');
const cListen = libc.func('int listen(int fd, int backlog)');
const cConnect = libc.func('int connect(int fd, const uint8_t *addr, uint32_t len)');
const cAccept4 = libc.func('int accept4(int fd, void *addr, void *len, int flags)');
const cSetsockopt = libc.func('int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t len)');
const cSendmsg = libc.func('long sendmsg(int fd, void *msg, int flags)');
const cRecvmsg = libc.func('long recvmsg(int fd, void *msg, int flags)');
const cClose = libc.func('int close(int fd)');

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EMSGSIZE = 90;
/** sizeof(sockaddr_un.sun_path): a socket path holds at most 107 bytes plus its NUL. */
const SUN_PATH_MAX = 108;
/** Most fds one message may carry here; more is a protocol error, not a reason for a bigger buffer. */
export const MAX_FDS = 4;

export const SOCK_SEQPACKET = 5;

/** Two connected unix sockets (close-on-exec, stream unless told), or -errno. */
export function socketpair(type = SOCK_STREAM): [number, number] | number {
  const sv = [0, 0];
  const r = ret(cSocketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv));
  return r < 0 ? r : [sv[0], sv[1]];
}

/** struct sockaddr_un for `path`; throws if the path does not fit. */
function unixAddress(path: string): Buffer {
  const bytes = Buffer.from(path);
  if (bytes.length >= SUN_PATH_MAX || bytes.includes(0))
    throw new Error(`unix socket path ${path}: at most ${SUN_PATH_MAX - 1} bytes without NUL are allowed, got ${bytes.length}`);
  const addr = Buffer.alloc(2 + bytes.length + 1);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return addr;
}

/** A non-blocking, close-on-exec stream socket listening on `path` (which must not exist), or -errno. */
export function listenUnix(path: string, backlog = 64): number {
  const addr = unixAddress(path);
  const fd = ret(cSocket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd < 0) return fd;
  let r = ret(cBind(fd, addr, addr.length));
  if (r >= 0) r = ret(cListen(fd, backlog));
  if (r < 0) {
    cClose(fd);
    return r;
  }
  return fd;
}

/**
 * A blocking, close-on-exec stream socket connected to `path`, or -errno
 * (ENOENT, ECONNREFUSED: nobody listens). With `timeoutMs`, connecting and
 * every later blocking send or receive give up after that long (EAGAIN).
 */
export function connectUnix(path: string, timeoutMs?: number): number {
  const addr = unixAddress(path);
  const fd = ret(cSocket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd < 0) return fd;
  let r = timeoutMs === undefined ? 0 : setSocketTimeouts(fd, timeoutMs);
  if (r >= 0) r = ret(cConnect(fd, addr, addr.length));
  if (r < 0) {
    cClose(fd);
    return r;
  }
  return fd;
}

/** The next pending connection on a listening socket (non-blocking, close-on-exec), or -errno (EAGAIN: none yet). */
export function acceptUnix(listenFd: number): number {
  return ret(cAccept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

/** SO_SNDTIMEO and SO_RCVTIMEO: a blocking send or receive on `fd` gives up (EAGAIN) after `ms`. */
function setSocketTimeouts(fd: number, ms: number): number {
  const tv = Buffer.alloc(16); // struct timeval { long tv_sec; long tv_usec }
  tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  const r = ret(cSetsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, tv.length));
  return r < 0 ? r : ret(cSetsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length));
}

const CMSG_HEADER = 16; // struct cmsghdr { size_t len; int level; int type } on 64-bit Linux
const MSGHDR = 56; // struct msghdr on 64-bit Linux
const IOVEC = 16; // struct iovec { void *base; size_t len }
const cmsgSpace = (fds: number): number => CMSG_HEADER + Math.ceil((4 * fds) / 8) * 8;

/**
 * One buffer holding a msghdr, its iovec, `controlBytes` of control space
 * and `dataBytes` of data, all pointing into itself: the one argument the
 * FFI call gets keeps every part alive for the call's duration.
 */
function messageBlock(controlBytes: number, dataBytes: number): { block: Buffer; control: Buffer; data: Buffer } {
  const block = Buffer.alloc(MSGHDR + IOVEC + controlBytes + dataBytes);
  const base = BigInt(koffi.address(block));
  const controlAt = MSGHDR + IOVEC;
  const dataAt = controlAt + controlBytes;
  block.writeBigUInt64LE(base + BigInt(dataAt), MSGHDR);
  block.writeBigUInt64LE(BigInt(dataBytes), MSGHDR + 8);
  block.writeBigUInt64LE(base + BigInt(MSGHDR), 16);
  block.writeBigUInt64LE(1n, 24);
  if (controlBytes > 0) {
    block.writeBigUInt64LE(base + BigInt(controlAt), 32);
    block.writeBigUInt64LE(BigInt(controlBytes), 40);
  }
  return { block, control: block.subarray(controlAt, dataAt), data: block.subarray(dataAt) };
}

/**
 * sendmsg(2) of `data` with `fds` attached (SCM_RIGHTS): bytes sent or -errno.
 * A short count means the rest must follow without fds.
 */
export function sendWithFds(fd: number, data: Buffer, fds: number[]): number {
  if (fds.length > MAX_FDS) throw new Error(`at most ${MAX_FDS} fds fit in one message, got ${fds.length}`);
  const m = messageBlock(fds.length > 0 ? cmsgSpace(fds.length) : 0, data.length);
  data.copy(m.data);
  if (fds.length > 0) {
    m.control.writeBigUInt64LE(BigInt(CMSG_HEADER + 4 * fds.length), 0);
    m.control.writeInt32LE(SOL_SOCKET, 8);
    m.control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((f, i) => m.control.writeInt32LE(f, CMSG_HEADER + 4 * i));
  }
  return ret(cSendmsg(fd, m.block, MSG_NOSIGNAL));
}

export interface Received {
  /** What arrived; empty when the peer closed. */
  data: Buffer;
  /** Descriptors that came with it (close-on-exec), now owned by the caller. */
  fds: number[];
}

/**
 * One recvmsg(2) of at most `maxBytes` without blocking: what arrived, or
 * -errno (EAGAIN: nothing yet). More than MAX_FDS descriptors is -EMSGSIZE
 * (those that did arrive are closed).
 */
export function receiveWithFds(fd: number, maxBytes: number): Received | number {
  const m = messageBlock(cmsgSpace(MAX_FDS), maxBytes);
  const n = ret(cRecvmsg(fd, m.block, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (n < 0) return n;
  const fds: number[] = [];
  const controlLength = Number(m.block.readBigUInt64LE(40));
  if (controlLength >= CMSG_HEADER && m.control.readInt32LE(8) === SOL_SOCKET && m.control.readInt32LE(12) === SCM_RIGHTS) {
    const count = (Number(m.control.readBigUInt64LE(0)) - CMSG_HEADER) / 4;
    for (let i = 0; i < count; i++) fds.push(m.control.readInt32LE(CMSG_HEADER + 4 * i));
  }
  if (m.block.readInt32LE(48) & MSG_CTRUNC) {
    for (const f of fds) cClose(f);
    return -EMSGSIZE;
  }
  return { data: Buffer.from(m.data.subarray(0, n)), fds };
}

/**
 * Blocks until one message arrives on `sock` and returns the first fd it
 * carries: the fd, -errno on failure, or 0 when the peer closed without one.
 */
export function receiveFd(sock: number): number {
  const data = Buffer.alloc(1);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(data), 0);
  iov.writeBigUInt64LE(1n, 8);
  // struct cmsghdr { size_t len; int level; int type; int fd } padded to 24.
  const control = Buffer.alloc(24);
  // struct msghdr on 64-bit Linux: 56 bytes.
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(koffi.address(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  msg.writeBigUInt64LE(koffi.address(control), 32);
  msg.writeBigUInt64LE(BigInt(control.length), 40);
  const n = ret(cRecvmsg(sock, msg, 0));
  if (n < 0) return n;
  if (control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS) return 0;
  return control.readInt32LE(16);
}
