// The fuse module's enable_uring parameter, switched for the length of a test
// and put back after: the kernel reads it when a mount sends INIT.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { ENABLE_URING } from '../../src/fuse/ring.ts';

export { ENABLE_URING };

export async function withUringParam<T>(value: 'Y' | 'N', fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(ENABLE_URING, 'utf8').trim();
  writeFileSync(ENABLE_URING, value);
  try {
    return await fn();
  } finally {
    writeFileSync(ENABLE_URING, before);
  }
}

/**
 * Completions the kernel has posted on each of process `pid`'s io_uring fds
 * (CqTail in /proc fdinfo), by fd. Node's libuv has rings of its own; the FUSE
 * ring is the one whose count grows with every request it delivers.
 */
export function ringCompletions(pid: number): Map<string, number> {
  const tails = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:[io_uring]') continue;
    const tail = /^CqTail:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (tail) tails.set(fd, Number(tail[1]));
  }
  return tails;
}

/** The largest growth of any one ring's completions between two ringCompletions() readings. */
export function mostDelivered(before: Map<string, number>, after: Map<string, number>): number {
  let most = 0;
  for (const [fd, n] of after) most = Math.max(most, n - (before.get(fd) ?? 0));
  return most;
}
