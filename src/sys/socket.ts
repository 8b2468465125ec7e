// socketpair(2) and receiving a file descriptor over SCM_RIGHTS, which is how
// fusermount3 hands an unprivileged mount's /dev/fuse fd back to us.
import { koffi, libc, ret } from './libc.ts';

const cSocketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const cRecvmsg = libc.func('long recvmsg(int fd, void *msg, int flags)');

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;

export const SOCK_SEQPACKET = 5;

/** Two connected unix sockets (close-on-exec, stream unless told), or -errno. */
export function socketpair(type = SOCK_STREAM): [number, number] | number {
  const sv = [0, 0];
  const r = ret(cSocketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv));
  return r < 0 ? r : [sv[0], sv[1]];
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
