// One logger for the daemon and the CLI: JSON lines on stderr, level from
// INTERPOSER_LOG (debug, info, warn, error; default info).
import { pino, type Logger } from 'pino';

export type { Logger };

export const log: Logger = pino(
  { level: process.env.INTERPOSER_LOG ?? 'info', base: { pid: process.pid } },
  pino.destination({ dest: 2, sync: true }),
);
