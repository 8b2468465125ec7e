// Where a mount's control socket lives: derived from the mountpoint, so
// `interposer ctl MOUNTPOINT` finds it without being told.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

export function controlSocketFor(mountpoint: string): string {
  const id = createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, 16);
  const dir =
    process.getuid?.() === 0 ? '/run/interposer' : `${process.env.XDG_RUNTIME_DIR ?? `/tmp/interposer-${process.getuid?.()}`}/interposer`;
  return `${dir}/${id}.sock`;
}
