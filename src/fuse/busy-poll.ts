// Busy-polling /dev/fuse before the request loop sleeps (mount.busyPoll).
import * as sys from '../sys/libc.ts';
import { cpuBudget } from '../util/cpu-budget.ts';
import { performance } from '../util/clock.ts';

/**
 * Checks between two readings of the clock while spinning: each reading returns a fresh heap number,
 * garbage that a spin of a few hundred checks left behind on every quiet moment; a check (a poll(2))
 * takes about a microsecond, so the window overshoots by a few at most.
 */
const CHECKS_PER_CLOCK_READ = 8;

/** The window `auto` gives a daemon that may use two CPUs or more. */
const AUTO_WINDOW_MS = 0.2;

/**
 * The window a mount.busyPoll setting means here. `auto` spins only where the
 * client can run while the daemon spins: on one CPU (or a container limited
 * to less than two) every spin would only delay the request it waits for.
 */
export function busyPollWindow(setting: 'auto' | number, cpus: () => number = cpuBudget): number {
  if (setting !== 'auto') return setting;
  return cpus() >= 2 ? AUTO_WINDOW_MS : 0;
}

/**
 * How long to poll without sleeping when the queue runs dry (mount.busyPoll).
 * A client that sends one request at a time (stat, open, read loops) sends the
 * next one soon after our reply; sleeping in between costs a context switch
 * and, on a virtual machine, the wake-up of an idle vCPU. Where those wake-ups
 * were slow, a 200 µs window made such round trips 2-3x faster for the same
 * daemon CPU, and the bench's create, unlink, untar and rm -rf 1.2-1.6x
 * faster for ~13 % more daemon CPU; where they were fast it changed nothing
 * measurable (bench/RESULTS.md, items 12 and 32). The window adapts as
 * cpuidle's haltpoll does, by what the sleep after a spin shows: it doubles
 * when the next request came within the longest window and halves when it did
 * not, down to nothing, so a daemon whose requests are sporadic stops spinning
 * and only samples the gaps by the length of its sleeps. A spin that finds
 * nothing does not shrink it by itself: a gap longer than the window but within
 * the longest one (a client reading its disk between requests) is one the
 * window should grow to cover (item 69).
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

  /**
   * Checks `arrived` without sleeping for the current window; true once it holds. It yields the
   * CPU now and then: a client our reply woke on this CPU, which the scheduler did not let preempt
   * us, would otherwise wait out the window before it could send the request we spin for.
   */
  spinUntil(arrived: () => boolean): boolean {
    if (this.windowMs <= 0) return false;
    const until = performance.now() + this.windowMs;
    do {
      sys.schedYield();
      for (let i = 0; i < CHECKS_PER_CLOCK_READ; i++) if (arrived()) return true;
    } while (performance.now() < until);
    return false;
  }

  /**
   * After a sleep that ended `waitedMs` after the queue ran dry (Infinity: it timed out with
   * nothing): would a window have caught it?
   */
  slept(waitedMs: number): void {
    if (waitedMs <= this.maxMs) {
      this.windowMs = Math.min(this.maxMs, Math.max(this.windowMs * 2, this.maxMs / 8));
      return;
    }
    this.windowMs /= 2;
    if (this.windowMs < this.maxMs / 16) this.windowMs = 0;
  }
}
