// V8 gives the objects a class makes a hidden class (a map), reached from the
// constructor through links the GC may cut: a full collection that finds no
// instance alive collects the map, and with it throws away every piece of
// optimised code that checks for that map. A class whose objects live only as
// long as a request (a context, an error, a reply writer) loses its map at most
// full collections, and the request path runs as bytecode until V8 compiles it
// again (bench/RESULTS.md item 38). One instance kept for the process's life
// keeps the map.
const kept: object[] = [];

/** Keeps `instance`, and so the object shape of its class, alive for the process's life; returns it. */
export function keepShape<T extends object>(instance: T): T {
  kept.push(instance);
  return instance;
}
