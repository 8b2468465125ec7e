// Requests the kernel interrupts (FUSE_INTERRUPT: the caller got a signal while
// the daemon held its request). A layer that holds a request, a latency delay
// or a throttle's wait, gives it up only for a caller that is being killed. A
// slow disk does not end a write early because a timer or a child's exit
// signalled the writer, and few programs expect EINTR from I/O on a regular
// file; SA_RESTART does not help, as FUSE answers EINTR, not ERESTARTSYS. The
// kernel interrupts a request once only, so a caller that handled its signal is
// looked at again while it waits, in case a kill follows.
import { beingKilled } from '../sys/proc-signals.ts';

/** How often a caller that was signalled while it waits is looked at again for a kill. */
const WATCH_MS = 100;
/** Interrupts kept for requests not read yet; all are dropped when there are more. */
const MAX_EARLY = 1024;

/** One request a layer holds, with what ends its wait early. */
class Held {
  readonly abort = new AbortController();
  private watch: ReturnType<typeof setInterval> | null = null;
  private readonly pid: number;

  constructor(pid: number) {
    this.pid = pid;
  }

  interrupted(): void {
    if (this.abort.signal.aborted || this.watch !== null) return;
    // pid 0: the kernel's own request, with no caller to wait for.
    if (this.pid === 0 || beingKilled(this.pid)) {
      this.abort.abort();
      return;
    }
    this.watch = setInterval(() => {
      if (!beingKilled(this.pid)) return;
      this.end();
      this.abort.abort();
    }, WATCH_MS);
    this.watch.unref();
  }

  end(): void {
    if (this.watch !== null) clearInterval(this.watch);
    this.watch = null;
  }
}

export class Interrupts {
  private readonly held = new Map<number, Held>();
  private readonly early = new Set<number>();

  /**
   * An AbortSignal that fires when request `unique` from thread `pid` is interrupted and its caller
   * is being killed. Created on demand, so that requests that never ask cost nothing.
   */
  signalFor(unique: number, pid: number): AbortSignal {
    let held = this.held.get(unique);
    if (!held) {
      held = new Held(pid);
      this.held.set(unique, held);
      if (this.early.delete(unique)) held.interrupted();
    }
    return held.abort.signal;
  }

  /** The kernel interrupted request `unique`. */
  interrupt(unique: number): void {
    const held = this.held.get(unique);
    if (held) {
      held.interrupted();
      return;
    }
    // The original may not have been read yet (interrupts jump the queue).
    // Remember it instead of answering EAGAIN, which would make the kernel
    // requeue the interrupt ahead of the original forever.
    if (this.early.size >= MAX_EARLY) this.early.clear();
    this.early.add(unique);
  }

  /** Request `unique` was answered. */
  answered(unique: number): void {
    if (this.held.size === 0) return;
    const held = this.held.get(unique);
    if (held === undefined) return;
    held.end();
    this.held.delete(unique);
  }
}
