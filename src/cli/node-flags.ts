// Flags for the Node that runs a daemon (bin/interposer repeats them; keep the two in step).
//
// --max-semi-space-size=1: V8's young generation grows to 16 MiB semi-spaces by
// default, and a daemon that answers small requests fills them with short-lived
// objects: capping them at 1 MiB cut its peak RSS from ~165 to ~105 MiB during
// an untar + rm -rf, at no measurable cost in CPU (bench/RESULTS.md).
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
