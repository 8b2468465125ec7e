// The command name of the process behind a request (/proc/PID/comm), read
// fresh each time: a child's first ops on the mount (its cwd, its
// redirections) come before its exec, and a name kept by PID would label the
// program's own ops with its parent's for a while. The file stays open per
// PID, so a name costs one pread(2) instead of readFileSync's open, fstat,
// read and close, which were most of what a traced op cost (bench/RESULTS.md
// item 63). An open /proc/PID file stays bound to its process: once that has
// exited, reads fail (ESRCH) even if the PID is given to another, and the name
// is then read from a fresh open.
import { closeSync, openSync, readSync } from 'node:fs';

/** Descriptors kept, oldest dropped first: a build's thousands of short-lived processes must not pile up. */
const KEPT = 64;
const kept = new Map<number, number>();
const name = Buffer.allocUnsafe(64);

/** The name read into `name` through `fd`, or null when the process is gone. */
function readName(fd: number): string | null {
  let n: number;
  try {
    n = readSync(fd, name, 0, name.length, 0);
  } catch {
    return null;
  }
  if (n > 0 && name[n - 1] === 0x0a) n--;
  return name.toString('utf8', 0, n);
}

/** The command name of process (or thread) `pid`; '' when it has gone. */
export function commOf(pid: number): string {
  const fd = kept.get(pid);
  if (fd !== undefined) {
    const comm = readName(fd);
    if (comm !== null) return comm;
    kept.delete(pid);
    closeSync(fd);
  }
  let fresh: number;
  try {
    fresh = openSync(`/proc/${pid}/comm`, 'r');
  } catch {
    return '';
  }
  const comm = readName(fresh);
  if (comm === null) {
    closeSync(fresh);
    return '';
  }
  if (kept.size >= KEPT) {
    const [oldest, oldFd] = kept.entries().next().value!;
    kept.delete(oldest);
    closeSync(oldFd);
  }
  kept.set(pid, fresh);
  return comm;
}
