// Where a mount's control socket lives: derived from the mountpoint, so
// `interposer ctl MOUNTPOINT` finds it without being told.
import { connect } from 'node:net';
import { resolve } from 'node:path';

export function controlSocketFor(mountpoint: string): string {
  const dir =
    process.getuid?.() === 0 ? '/run/interposer' : `${process.env.XDG_RUNTIME_DIR ?? `/tmp/interposer-${process.getuid?.()}`}/interposer`;
  return `${dir}/${pathId(resolve(mountpoint))}.sock`;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/**
 * 16 hex digits naming a mountpoint: FNV-1a over its UTF-8 bytes. A name, not a secret, so no
 * cryptographic hash: node:crypto, loaded for one digest at start, cost every daemon ~8 ms of its
 * start and ~1 MiB (bench/RESULTS.md item 60).
 */
function pathId(path: string): string {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(path, 'utf8')) h = ((h ^ BigInt(byte)) * FNV_PRIME) & U64;
  return h.toString(16).padStart(16, '0');
}

/**
 * Whether `socket` is the socket of a daemon that died: the file is there and nothing accepts on it
 * (ECONNREFUSED). A live daemon's, a missing file or any other error: false.
 */
export function deadSocket(socket: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      done(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}
