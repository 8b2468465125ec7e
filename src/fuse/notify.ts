// Notifications: messages the daemon sends the kernel unasked (unique 0, the
// notify code in the error field).
import * as sys from '../sys/libc.ts';
import { OUT_HEADER_SIZE } from './abi.ts';
import { putU64 } from '../util/le.ts';

const FUSE_NOTIFY_INVAL_INODE = 2;

/**
 * Drops the kernel's cached attributes of node `nodeid`, so its next stat comes to the daemon.
 * Returns 0 or -errno (ENOENT when the kernel no longer has the inode, which is fine). It takes
 * no page locks, so it may be written on the request thread, even while the kernel waits on a
 * request for that inode.
 */
export function notifyInvalAttributes(devFd: number, nodeid: number): number {
  const buf = invalInode(nodeid, -1);
  return sys.write(devFd, buf, buf.length);
}

/**
 * Drops the node's cached pages (the whole file) and attributes, from a worker thread: dropping a
 * page waits for its lock, which a read of that file still queued for us may hold, so the request
 * thread must never write this one. Resolves once the kernel has dropped them (0 or -errno).
 */
export function notifyInvalPages(devFd: number, nodeid: number): Promise<number> {
  return sys.writeAsync(devFd, invalInode(nodeid, 0));
}

/** fuse_notify_inval_inode_out; `offset` -1: no pages; 0 with length 0: from the start to the end of the file. */
function invalInode(nodeid: number, offset: -1 | 0): Buffer {
  const buf = Buffer.alloc(OUT_HEADER_SIZE + 24);
  buf.writeUInt32LE(buf.length, 0);
  buf.writeInt32LE(FUSE_NOTIFY_INVAL_INODE, 4);
  putU64(buf, nodeid, OUT_HEADER_SIZE);
  buf.writeBigInt64LE(BigInt(offset), OUT_HEADER_SIZE + 8);
  return buf;
}
