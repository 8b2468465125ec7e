// Whether a process is being killed, from /proc/TID/status. The kernel turns a
// signal that ends a process (SIGKILL, or one it neither catches nor ignores
// whose default is to terminate it) into a SIGKILL pending on each of its
// threads before it wakes them; a signal the process handles leaves none.
import { readFileSync } from 'node:fs';

const SIGKILL_MASK = 1 << (9 - 1);

/** Whether thread (or process) `tid` has a SIGKILL pending, or is gone. */
export function beingKilled(tid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${tid}/status`, 'latin1');
  } catch {
    return true;
  }
  return killPending(status, '\nSigPnd:') || killPending(status, '\nShdPnd:');
}

/** Whether the signal mask in `field` (hex, signal n at bit n - 1) has SIGKILL. */
function killPending(status: string, field: string): boolean {
  const at = status.indexOf(field);
  if (at < 0) return false;
  const end = status.indexOf('\n', at + 1);
  const mask = status.slice(at + field.length, end < 0 ? undefined : end).trim();
  return (parseInt(mask.slice(-3), 16) & SIGKILL_MASK) !== 0;
}
