// require() for modules a daemon needs synchronously but only sometimes (a YAML
// parser, the tracing API): an ES module import loads them, and keeps them in
// memory, whether or not the mount ever uses them.
import { createRequire } from 'node:module';

export const requireModule = createRequire(import.meta.url);
