// Delays for latency and throttling. setTimeout alone is late by up to a
// millisecond, which would swamp a 1 ms delay; so the last stretch is waited
// out with setImmediate turns against the high-resolution clock.
import { EINTR, FsError } from '../vfs/errors.ts';
import { performance } from '../util/clock.ts';

const SPIN_MS = 1.5;

/** Resolves after `ms`; rejects with EINTR if `signal` aborts first (the kernel interrupted the call). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + ms;
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      if (timer) clearTimeout(timer);
      reject(new FsError(EINTR, 'interrupted while delayed'));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const spin = (): void => {
      if (signal?.aborted) return;
      if (performance.now() >= deadline) {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      } else setImmediate(spin);
    };
    if (ms > SPIN_MS) timer = setTimeout(spin, ms - SPIN_MS);
    else spin();
  });
}
