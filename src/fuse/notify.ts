// Notifications: messages the daemon sends the kernel unasked (unique 0, the
// notify code in the error field).
import * as sys from '../sys/libc.ts';
import { OUT_HEADER_SIZE } from './abi.ts';
import { putU64 } from '../util/le.ts';

const FUSE_NOTIFY_INVAL_INODE = 2;

/**
 * Drops the kernel's cached attributes of node `nodeid` and, unless
 * `attributesOnly`, its cached pages (the whole file), so the next stat (and
 * read) come to the daemon. Returns 0 or -errno (ENOENT when the kernel no
 * longer has the inode, which is fine). Attributes only takes no page locks,
 * so it may be sent while the kernel waits on a request for that inode.
 */
export function notifyInvalInode(devFd: number, nodeid: number, attributesOnly = false): number {
  const buf = invalInode(nodeid, attributesOnly);
  return sys.write(devFd, buf, buf.length);
}

/**
 * The same for pages, from a worker thread: dropping a page waits for its lock, which a read of
 * that file still queued for us may hold, so the request thread must not wait for it. Resolves
 * once the kernel has dropped them.
 */
export function notifyInvalInodeLater(devFd: number, nodeid: number): Promise<number> {
  return sys.writeAsync(devFd, invalInode(nodeid, false));
}

function invalInode(nodeid: number, attributesOnly: boolean): Buffer {
  const buf = Buffer.alloc(OUT_HEADER_SIZE + 24);
  buf.writeUInt32LE(buf.length, 0);
  buf.writeInt32LE(FUSE_NOTIFY_INVAL_INODE, 4);
  putU64(buf, nodeid, OUT_HEADER_SIZE);
  // off -1: no pages; off 0, len 0: from the start to the end of the file.
  if (attributesOnly) buf.writeBigInt64LE(-1n, OUT_HEADER_SIZE + 8);
  return buf;
}
