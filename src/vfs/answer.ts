// Working with a vfs op's answer (types.ts: a result, or an FsError returned or thrown) without
// losing a returned failure, synchronously when the answer is.
import type { Reply } from '../fuse/replies.ts';
import { errnoName, FsError } from './errors.ts';
import type { Answer, MaybePromise } from './types.ts';

/** A result, or the failure it is thrown: for callers that handle failures by catching. */
export function orThrow<T>(answer: T | FsError): T {
  if (answer instanceof FsError) throw answer;
  return answer;
}

/** Awaits an answer, throwing a returned failure: for code off the request path, written with await and try. */
export async function settled<T>(answer: Answer<T>): Promise<T> {
  return orThrow(await answer);
}

/** `f` of a successful answer, synchronously when the answer is; a failure passes on as it came, returned or thrown. */
export function onSuccess<T, R>(answer: Answer<T>, f: (value: T) => MaybePromise<R | FsError>): Answer<R> {
  if (answer instanceof Promise) return answer.then((v) => (v instanceof FsError ? v : f(v)));
  return answer instanceof FsError ? answer : f(answer);
}

/** The reply to an answer: `f` of its result, or the errno of a failure it returned (a thrown one propagates). */
export function replyTo<T>(answer: Answer<T>, f: (v: T) => MaybePromise<Reply>): MaybePromise<Reply> {
  if (answer instanceof Promise) return answer.then((v) => (v instanceof FsError ? v.errno : f(v)));
  return answer instanceof FsError ? answer.errno : f(answer);
}

/** How an answer ended, as metrics and traces label it: 'ok', or the name of the errno it failed with. */
export function outcomeOf(answer: unknown): string {
  return answer instanceof FsError ? errnoName(answer.errno) : 'ok';
}
