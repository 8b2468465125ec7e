// A passthrough daemon runs with umask 0 and makes each new node under the
// umask of the caller that asked for it (underUmask). Files the daemon makes
// for its own user (a trace file) must not come out world-writable for it:
// they get the umask the process started with.

let startUmask: number | undefined;

/** Sets the umask to 0, remembering the one the process had first. */
export function clearUmask(): void {
  const prior = process.umask(0);
  startUmask ??= prior;
}

/**
 * Runs `make` (a system call that creates a node) under the caller's `umask`, then back to 0, so that
 * the backing filesystem applies it as natively: not where the parent has a default ACL. The umask
 * is the process's: `make` must not yield to other JavaScript.
 */
export function underUmask<T>(umask: number | undefined, make: () => T): T {
  if (!umask) return make();
  process.umask(umask);
  try {
    return make();
  } finally {
    process.umask(0);
  }
}

/**
 * The mode to create a file of the daemon's own with: `mode` less the umask the process started with.
 * Until clearUmask() runs (a daemon with no passthrough backend), that umask is still the process's and
 * open(2) applies it.
 */
export function ownFileMode(mode = 0o666): number {
  return mode & ~(startUmask ?? 0);
}
