// Times travel as milliseconds in a double (easy for layers and backends to
// compute with), which resolves only ~244 ns at today's dates. Where the exact
// nanoseconds are known (statx, a SETATTR from the kernel) they ride along as a
// hint, and are used when writing the time out again: `touch -d` with
// nanoseconds, rsync and make then see exactly the time that was set.

/** The result of splitTime(); overwritten by each call (callers copy it out at once). */
export const split = { sec: 0, nsec: 0 };

/**
 * Splits `ms` into whole seconds and nanoseconds. `nsecHint` is taken as the
 * exact nanoseconds when it agrees with `ms` to within a microsecond; a hint
 * left over from before the time changed does not, and is ignored.
 */
export function splitTime(ms: number, nsecHint: number | undefined): typeof split {
  if (nsecHint !== undefined) {
    const sec = Math.round((ms - nsecHint / 1e6) / 1000);
    if (Math.abs(sec * 1000 + nsecHint / 1e6 - ms) < 0.001) {
      split.sec = sec;
      split.nsec = nsecHint;
      return split;
    }
  }
  const sec = Math.floor(ms / 1000);
  const nsec = Math.round((ms - sec * 1000) * 1e6);
  split.sec = sec;
  // Far from the epoch sec * 1000 can round above ms; a negative nsec would throw.
  split.nsec = nsec > 999_999_999 ? 999_999_999 : nsec < 0 ? 0 : nsec;
  return split;
}
