/**
 * Structured logs (pino) on stdout: JSON lines, or readable lines (pino-pretty, the pino project's own
 * formatter, rather than a home-grown one) when LOG_FORMAT=pretty or, with the default auto, when the
 * output is a terminal. Lifecycle events and every state change at info, per-batch summaries at debug.
 * Secrets never reach the logger: configuration is logged through loggableConfig(), and connection
 * strings are redacted as a second line of defence.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { redactUrl } from './config.js';

export type { Logger };

export type LogFormat = 'auto' | 'json' | 'pretty';

/** Whether `auto` means pretty for this file descriptor. */
export function prettyFor(format: LogFormat, fd: number): boolean {
  if (format !== 'auto') return format === 'pretty';
  return fd === 2 ? process.stderr.isTTY === true : process.stdout.isTTY === true;
}

export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = 'json', fd = 1): Logger {
  if (destination === undefined && prettyFor(format, fd)) {
    destination = pretty({
      destination: fd,
      sync: fd === 2,
      colorize: (fd === 2 ? process.stderr : process.stdout).isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name',
      singleLine: true,
    });
  }
  return pino(
    {
      name: 'outbox-relay',
      level,
      base: { pid: process.pid },
      // The field names a connection string or password travels under (the config is logged as
      // `config`, already through loggableConfig()); URLs keep their host, secrets become ***.
      redact: {
        paths: ['databaseUrl', '*.databaseUrl', 'connectionString', '*.connectionString', 'password', '*.password', 'sslpassword', '*.sslpassword'],
        censor: (value, path) => (typeof value === 'string' && /url|connectionstring/i.test(path.at(-1) ?? '') ? redactUrl(value) : '***'),
      },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd, sync: fd === 2 }),
  );
}
