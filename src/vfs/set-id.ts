// Which set-id bits a write, truncation or chown takes away. With HANDLE_KILLPRIV_V2 (vfs/init.ts)
// the kernel no longer clears them: it flags the requests that must (writes and truncations by a
// caller without CAP_FSETID, and every chown of a file) and leaves the rest to us.
import { readFileSync } from 'node:fs';
import { S_ISGID, S_ISUID, S_IXGRP } from './mode.ts';
import type { OpContext } from './types.ts';

/** Whether `mode` has setuid or setgid: only then can a flagged request have anything to clear. */
export function hasSetId(mode: number): boolean {
  return (mode & (S_ISUID | S_ISGID)) !== 0;
}

/**
 * The bits to clear, as the kernel's setattr_should_drop_suidgid() decides natively: setuid always;
 * setgid when group execute makes it a privilege, or else (it marks mandatory locking then) when the
 * caller is neither in the file's group nor privileged. `maybePrivileged`: the flag does not say the
 * caller lacks CAP_FSETID (a chown); uid 0 is then taken as privileged.
 */
export function setIdBits(mode: number, gid: number, ctx: OpContext, maybePrivileged: boolean): number {
  let bits = mode & S_ISUID;
  if (mode & S_ISGID) {
    if (mode & S_IXGRP || !((maybePrivileged && ctx.uid === 0) || inGroup(ctx, gid))) bits |= S_ISGID;
  }
  return bits;
}

/** Whether the caller is in group `gid`: its own, or one of its supplementary groups (from /proc; none if it is gone). */
function inGroup(ctx: OpContext, gid: number): boolean {
  if (ctx.gid === gid) return true;
  if (ctx.pid <= 0) return false;
  let status: string;
  try {
    status = readFileSync(`/proc/${ctx.pid}/status`, 'latin1');
  } catch {
    return false;
  }
  const line = /^Groups:(.*)$/m.exec(status);
  return line !== null && line[1].trim().split(/\s+/).includes(String(gid));
}
