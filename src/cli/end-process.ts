// How the CLI's processes end with a status once their own work is done: daemons, the CSI plugin
// and mounter, `run`, `demo`, and commands that fail. (A command that simply finishes ends by its
// event loop running dry, not through process.exit().)
import { flushCompileCache } from 'node:module';
import { exitImmediately } from '../sys/libc.ts';

/** Profilers that Node writes out in its own exit: a process run under one takes that exit (`npm run bench -- --cpu-prof`). */
const PROFILER_FLAGS = /(?:^|\s)--(?:cpu-prof|heap-prof)\b/;

function profiled(): boolean {
  return process.execArgv.some((arg) => PROFILER_FLAGS.test(arg)) || PROFILER_FLAGS.test(process.env.NODE_OPTIONS ?? '');
}

/** What must not outlive the process (a mount's control socket), undone by endProcess whichever path ends it. */
const cleanups = new Set<() => void>();

/** Runs `cleanup` when the process ends through endProcess, unless the returned function is called first. */
export function atEnd(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/**
 * Ends a process that has finished its own shutdown (unmounted, flushed its telemetry) with `code`.
 * Not process.exit(): Node then shuts its platform down, joining V8's helper threads, without
 * tearing the heap down first, and a helper compiling in the background that waits for a collection
 * waits forever (nodejs/node#54918; a daemon here hung so after unmounting, bench/RESULTS.md item
 * 59). _exit(2) instead, after writing out what Node's exit would have: the compile cache (without
 * it every start strips the TypeScript again). No 'exit' listeners run, and what was written to
 * stdout and stderr is already out (pipes, files and terminals are written synchronously on Linux).
 * A process under `--cpu-prof` or `--heap-prof` exits through Node, which writes the profile there.
 * What was registered with atEnd runs first.
 */
export function endProcess(code: number): never {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: what one cleanup could not undo must not keep the process from ending.
    }
  }
  if (profiled()) process.exit(code);
  try {
    flushCompileCache();
  } catch {
    // A cache that cannot be written (a full disk) only makes the next start slower; it must not stop this exit.
  }
  return exitImmediately(code);
}
