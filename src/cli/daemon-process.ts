// How a daemon's process is started: Node flags and environment (bin/interposer and
// deploy/Containerfile repeat them; test/unit/daemon-process.test.ts keeps the three in step).
//
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
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

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
