// The monotonic clock, for every module of src/ (the request path reads it on
// every request). Node defines `performance` on the global object as an
// accessor, so each `performance.now()` written against the global looks it up
// and calls the getter first (36 against 30 ns a call, bench/RESULTS.md item 82);
// it is read once here.
export const performance = globalThis.performance;
