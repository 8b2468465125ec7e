// A passthrough daemon serves files with the modes the kernel sends, which
// already carry the caller's umask, so it runs with umask 0. Files the daemon
// makes for its own user (a trace file) must not come out world-writable for
// it: they get the umask the process started with.

let startUmask: number | undefined;

/** Sets the umask to 0, remembering the one the process had first. */
export function clearUmask(): void {
  const prior = process.umask(0);
  startUmask ??= prior;
}

/**
 * The mode to create a file of the daemon's own with: `mode` less the umask the process started with.
 * Until clearUmask() runs (a daemon with no passthrough backend), that umask is still the process's and
 * open(2) applies it.
 */
export function ownFileMode(mode = 0o666): number {
  return mode & ~(startUmask ?? 0);
}
