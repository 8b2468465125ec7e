// How a daemon's process is started: Node flags and environment (bin/interposer and
// deploy/Containerfile repeat them; test/unit/daemon-process.test.ts keeps them in step).
import { cpuBudget } from '../util/cpu-budget.ts';

// --max-semi-space-size=1: V8's young generation grows to 16 MiB semi-spaces by
// default, and a daemon that answers small requests fills them with short-lived
// objects: capping them at 1 MiB cut its peak RSS from ~165 to ~105 MiB during
// an untar + rm -rf, at no measurable cost in CPU (bench/RESULTS.md).
//
// --optimize-for-size: with the small young generation, objects of requests in
// flight survive two scavenges and land in the old generation, where they die;
// V8's default heap growth then let that garbage pile up for a whole bench
// round without one full collection (a forced one took the heap from 28.7 to
// 16.2 MiB). With this flag V8 collects the old generation every few MiB of
// growth (4-6 full GCs over two rounds of untar, ls -lR and rm -rf, 20-40 ms in
// all): peak RSS per bench round 93-99 instead of 98-113 MiB, throughput within
// the noise (bench/RESULTS.md item 36).
export const DAEMON_MEMORY_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

// --v8-pool-size: V8 collects garbage and compiles beside the main thread on a
// pool of helper threads, four whatever the machine. On two CPUs those four took
// the CPUs from the serving thread and its client: a full collection in a fresh
// daemon's first listing of 10,000 names ran the four for ~23 ms of CPU in 16 ms
// while the serving thread waited on them, and such listings took 16.3 ms
// (median) against 13.6 with one helper (bench/RESULTS.md item 58). So one
// helper fewer than the CPUs the daemon may use, at least one, at most Node's four.
// bin/interposer passes the same, from nproc and a cgroup v2 limit; the image's entrypoint (the CSI
// plugin, which starts its daemons through daemonNodeFlags) passes only the memory flags.
export function v8PoolSize(cpus: number = cpuBudget()): number {
  return Math.min(4, Math.max(1, Math.floor(cpus) - 1));
}

/** The Node flags a daemon starts with: the memory flags, and a V8 pool sized for the CPUs it may use. */
export function daemonNodeFlags(cpus?: number): string[] {
  return [...DAEMON_MEMORY_FLAGS, `--v8-pool-size=${v8PoolSize(cpus)}`];
}

// MALLOC_ARENA_MAX=1: glibc gives each thread that mallocs (V8's helpers, libuv's
// pool, koffi's) an arena of its own and keeps freed memory in them; with one
// shared arena a daemon held 57-66 instead of 107 MiB of anonymous memory after
// three rounds of untar, ls -lR and rm -rf, for the same CPU. glibc reads it when
// the process starts, so it must be in the environment (serve() also sets what it
// still can with mallopt, for daemons started some other way).
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/** Names of the variables bin/interposer set for itself (space-separated), which are not the user's. */
export const OWN_ENV = 'INTERPOSER_OWN_ENV';

/** `env` without what bin/interposer added for the daemon: the environment the user's own command should get. */
export function userEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of (env[OWN_ENV] ?? '').split(' ')) if (name) delete out[name];
  delete out[OWN_ENV];
  return out;
}
