/**
 * Exit codes and the errors that map onto them. Every error that ends the process carries one line
 * that says what is wrong and how to fix it; the CLI prints that line and exits with its code.
 *
 * EXIT_CODES is the one definition of the codes: `ExitCode.X` is derived from it, and so are the
 * "Exit codes" of every `--help` (renderExitCodesHelp) and the README table (src/config-docs.ts,
 * written by `npm run docs:config`; test/unit/docs-tables.test.ts fails on drift). Adding a code is
 * one line here. test/fault/cli.test.ts checks the codes the CLI returns.
 */
export const EXIT_CODES = [
  { code: 0, name: 'OK', meaning: 'success, or a graceful shutdown after SIGTERM/SIGINT' },
  { code: 1, name: 'INTERNAL', meaning: 'internal error (a bug: the stack is printed on stderr)' },
  { code: 2, name: 'USAGE', meaning: 'invalid configuration or usage' },
  {
    code: 3,
    name: 'UNAVAILABLE',
    meaning: 'a required service or object is missing: PostgreSQL/Kafka unreachable at startup, table not migrated',
  },
  { code: 4, name: 'SCHEMA_AHEAD', meaning: 'the database schema is newer than this outbox-relay: upgrade it' },
  {
    code: 5,
    name: 'DB_REFUSED',
    meaning:
      'the database refuses what the relay needs: a missing privilege or object (SQLSTATE 42501, 42P01, 42703, 42883, 3F000; the line names it and the GRANT or migrate that fixes it), or `migrate` run by a role that may not create objects (42501), or completing a published batch failed the same way 5 times in a row (the batch stays pending)',
  },
  {
    code: 6,
    name: 'DOCTOR_PROBLEMS',
    meaning: '`outbox-relay doctor` found at least one problem (its FAIL lines say what and how to fix it; warnings alone exit 0)',
  },
  {
    code: 7,
    name: 'KAFKA_REFUSED',
    meaning:
      'Kafka refuses the relay: TLS handshake, SASL login or OAUTHBEARER token, or idempotent writes not allowed (the line says which setting or ACL to fix; restarting will not help)',
  },
  { code: 130, name: 'FORCED', meaning: 'a second SIGTERM/SIGINT forced the exit' },
] as const;

type ExitCodeEntry = (typeof EXIT_CODES)[number];

/** `ExitCode.USAGE === 2` etc., from EXIT_CODES. */
export const ExitCode = Object.freeze(Object.fromEntries(EXIT_CODES.map((e) => [e.name, e.code]))) as {
  readonly [E in ExitCodeEntry as E['name']]: E['code'];
};
export type ExitCode = ExitCodeEntry['code'];

/** The "Exit codes:" block appended to every `--help`, wrapped to `width` columns. */
export function renderExitCodesHelp(width = 100): string {
  const indent = ' '.repeat(7);
  const lines = ['', 'Exit codes:'];
  for (const { code, meaning } of EXIT_CODES) {
    const [first, ...rest] = meaning.split(' ');
    let line = `  ${String(code).padEnd(5)}${first}`;
    for (const word of rest) {
      if (line.length + 1 + word.length > width) {
        lines.push(line);
        line = indent + word;
      } else {
        line += ` ${word}`;
      }
    }
    lines.push(line);
  }
  return lines.join('\n');
}

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
