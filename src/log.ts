/**
 * Structured JSON logs (pino) on stdout. Lifecycle events at info, per-batch summaries at debug.
 * Secrets never reach the logger: configuration is logged through loggableConfig(), and connection
 * strings are redacted as a second line of defence.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: 'outbox-relay',
      level,
      base: { pid: process.pid },
      redact: { paths: ['databaseUrl', 'connectionString', 'password', '*.password', '*.connectionString'], censor: '***' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
