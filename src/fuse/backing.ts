// Kernel passthrough (Linux 6.9+): register a backing file so the kernel sends
// a file's reads and writes straight to it instead of to us.
import * as sys from '../sys/libc.ts';
import { FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN, FUSE_DEV_IOC_CLONE } from './abi.ts';

// Reused by every call: the ioctls are synchronous, and a file opened with kernel passthrough pays two.
const map = Buffer.alloc(16); // struct fuse_backing_map { i32 fd; u32 flags; u64 padding }
const id = Buffer.alloc(4);

/** Registers `backingFd` on the connection `devFd`; the backing id (> 0) or -errno. */
export function backingOpen(devFd: number, backingFd: number): number {
  map.writeInt32LE(backingFd, 0);
  return sys.ioctl(devFd, FUSE_DEV_IOC_BACKING_OPEN, map);
}

export function backingClose(devFd: number, backingId: number): number {
  id.writeUInt32LE(backingId, 0);
  return sys.ioctl(devFd, FUSE_DEV_IOC_BACKING_CLOSE, id);
}

/** A second fd on the same connection with its own processing queue, or -errno. */
export function cloneDevFd(devFd: number, flags: number): number {
  const fd = sys.open('/dev/fuse', flags);
  if (fd < 0) return fd;
  const arg = Buffer.alloc(4);
  arg.writeUInt32LE(devFd, 0);
  const r = sys.ioctl(fd, FUSE_DEV_IOC_CLONE, arg);
  if (r < 0) {
    sys.close(fd);
    return r;
  }
  return fd;
}
