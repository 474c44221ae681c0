/**
 * Structured JSON logs (pino) on stdout. Lifecycle events at info, per-batch summaries at debug.
 * Secrets never reach the logger: configuration is logged through loggableConfig(), and connection
 * strings are redacted as a second line of defence.
 */
import { pino, type Logger } from 'pino';
import { redactUrl } from './config.js';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
