/**
 * Exit codes and the errors that map onto them. Every error that ends the process carries one line
 * that says what is wrong and how to fix it; the CLI prints that line and exits with its code.
 * (Documented in README "Exit codes"; test/fault/cli.test.ts checks them.)
 */
export const ExitCode = {
  /** Clean exit, including a graceful shutdown after SIGTERM/SIGINT. */
  OK: 0,
  /** A bug or an unexpected failure: the message is logged with its stack. */
  INTERNAL: 1,
  /** Invalid configuration or command-line usage. */
  USAGE: 2,
  /** A required service or object is not there: database/Kafka unreachable, table not migrated. */
  UNAVAILABLE: 3,
  /** The database schema is newer than this binary: upgrade outbox-relay. */
  SCHEMA_AHEAD: 4,
  /**
   * The database refuses what the relay needs: a missing privilege or object (SQLSTATE 42501, 42P01,
   * …; src/pg-errors.ts), or completing a published batch failed identically again and again.
   */
  DB_REFUSED: 5,
  /**
   * Kafka refuses the relay itself: a TLS handshake failed (untrusted or wrong certificate, client
   * certificate missing or refused), the SASL login failed, or idempotent writes are not allowed for
   * its principal. Restarting will not help; the line names the setting or ACL to fix.
   */
  KAFKA_REFUSED: 7,
  /** A second signal forced the exit before the graceful shutdown finished. */
  FORCED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the process with a known exit code and a one-line, actionable message. */
export class RelayExit extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RelayExit';
  }
}

export class ConfigError extends RelayExit {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = 'ConfigError';
  }
}

export class UnavailableError extends RelayExit {
  constructor(message: string, cause?: unknown) {
    super(message, ExitCode.UNAVAILABLE, { cause });
    this.name = 'UnavailableError';
  }
}

export class KafkaRefusedError extends RelayExit {
  constructor(message: string, cause?: unknown) {
    super(message, ExitCode.KAFKA_REFUSED, { cause });
    this.name = 'KafkaRefusedError';
  }
}

export class SchemaAheadError extends RelayExit {
  constructor(message: string) {
    super(message, ExitCode.SCHEMA_AHEAD);
    this.name = 'SchemaAheadError';
  }
}

export class DatabaseRefusedError extends RelayExit {
  constructor(message: string, cause?: unknown) {
    super(message, ExitCode.DB_REFUSED, { cause });
    this.name = 'DatabaseRefusedError';
  }
}

/** Short "code: message" text of any thrown value, for one-line logs and exits. */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(describeError).join('; ');
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const message = err.message || err.name;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(err);
}
