// Busy-polling /dev/fuse before the request loop sleeps (mount.busyPoll).
import * as sys from '../sys/libc.ts';

/**
 * How long to poll without sleeping when the queue runs dry (off unless
 * mount.busyPoll is set). A client that sends one request at a time (stat,
 * open, read loops) sends the next one soon after our reply; sleeping in
 * between costs a context switch and, on a virtual machine, the wake-up of an
 * idle vCPU. Where those wake-ups were slow, a fixed 200 µs window made such
 * round trips 2-3x faster for the same daemon CPU; where they were fast it
 * changed nothing measurable (bench/RESULTS.md). The window adapts as
 * cpuidle's haltpoll does: it grows when the next request came within the
 * longest window and halves when it did not, down to nothing, so a daemon
 * whose requests are sporadic stops spinning and only samples the gaps by the
 * length of its sleeps.
 */
export class BusyPoll {
  private readonly maxMs: number;
  private windowMs: number;

  /** `maxMs` > 0: the longest window, and the first. */
  constructor(maxMs: number) {
    this.maxMs = maxMs;
    this.windowMs = maxMs;
  }

  /** The current window in ms (0: sleeps at once). */
  get window(): number {
    return this.windowMs;
  }

  /** Polls `fd` without sleeping for the current window; true once readable. */
  spin(fd: number): boolean {
    return this.spinUntil(() => sys.pollOne(fd, sys.POLLIN, 0) > 0);
  }

  /** Checks `arrived` without sleeping for the current window; true once it holds. */
  spinUntil(arrived: () => boolean): boolean {
    if (this.windowMs <= 0) return false;
    const until = performance.now() + this.windowMs;
    do {
      if (arrived()) return true;
    } while (performance.now() < until);
    this.windowMs /= 2;
    if (this.windowMs < this.maxMs / 16) this.windowMs = 0;
    return false;
  }

  /** After a sleep that ended `waitedMs` after the queue ran dry: would a window have caught it? */
  slept(waitedMs: number): void {
    if (waitedMs <= this.maxMs) this.windowMs = Math.min(this.maxMs, Math.max(this.windowMs * 2, this.maxMs / 8));
  }
}
