/** Process entry (bin/outbox-relay): run the CLI, flush, exit with its code. */
import { main } from './cli.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Give pino's async stdout a moment to flush, then make sure no stray handle keeps us alive.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`outbox-relay: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
