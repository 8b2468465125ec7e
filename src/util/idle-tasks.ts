// Work that must not hold up the reply it comes from, such as making and
// writing an op's trace span. The FUSE loop runs it when it finds no request
// waiting: a client that sends one request at a time is then still being
// woken by the reply, so the work costs it nothing (bench/RESULTS.md item 72).
// A turn of the event loop runs whatever a loop kept busy has left, and a
// queue grown to MAX_WAITING runs its oldest task at once, so memory stays
// bounded whatever the load.
import { log } from './log.ts';

const MAX_WAITING = 1024;

/** Task i is runs[i](args[i]); two arrays and a start index, so that queueing allocates nothing per task. */
const runs: Array<((arg: never) => void) | undefined> = [];
const args: unknown[] = [];
let head = 0;
let turnAsked = false;

/** Queues `run(arg)` to run once no request waits (in order, before the event loop's next turn at the latest). */
export function whenIdle<T>(run: (arg: T) => void, arg: T): void {
  if (runs.length - head >= MAX_WAITING) runIdleTasks(1);
  runs.push(run as (arg: never) => void);
  args.push(arg);
  if (!turnAsked) {
    turnAsked = true;
    setImmediate(runAtTurn);
  }
}

/** Whether tasks wait. */
export function idleTasksWaiting(): boolean {
  return head < runs.length;
}

/** Runs up to `max` waiting tasks, oldest first. A task that throws is logged; the rest still run. */
export function runIdleTasks(max = Infinity): void {
  for (let n = 0; n < max && head < runs.length; n++) {
    const run = runs[head]!;
    const arg = args[head];
    runs[head] = undefined;
    args[head] = undefined;
    head++;
    try {
      (run as (arg: unknown) => void)(arg);
    } catch (err) {
      log.error({ err }, 'a deferred task failed');
    }
  }
  if (head === runs.length) {
    runs.length = 0;
    args.length = 0;
    head = 0;
  }
}

function runAtTurn(): void {
  turnAsked = false;
  runIdleTasks();
}
