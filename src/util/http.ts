// node:http as this project loads it: through require(). An ES module import
// of a Node built-in builds its module namespace, which reads every export,
// lazy ones included; node:http's load TLS, HTTP/2, zlib, web streams and
// undici, ~8 MiB of a daemon's memory that its control socket never uses
// (bench/RESULTS.md item 41). Required, it costs ~1 MiB.
import { requireModule } from './require.ts';

export const http = requireModule('node:http') as typeof import('node:http');
