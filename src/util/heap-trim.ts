// glibc keeps the pages of the C heap that only hold freed memory, and they count as the process's RSS
// until it is asked for them back (malloc_trim). A process that works in bursts asks once a burst is
// over: a daemon when its mount goes quiet (cli/serve.ts), the CSI plugin and mounter a moment after their
// last call.
import { trimMallocHeap } from '../sys/libc.ts';

/** How long after the last call the heap is trimmed: past a burst of calls (a pod's volumes published together). */
const QUIET_MS = 2000;

/**
 * A function that trims the heap `quietMs` after it was last called. The timer does not keep the
 * process alive; a trim takes ~0.4 ms.
 */
export function trimmerWhenQuiet(trim: () => unknown = trimMallocHeap, quietMs = QUIET_MS): () => void {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    timer = undefined;
    trim();
  };
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fire, quietMs).unref();
  };
}
