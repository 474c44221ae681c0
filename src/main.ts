/**
 * Process entry (bin/outbox-relay): run the CLI and exit with its code.
 * After a clean run the process should end by itself: every socket, timer and child closed. If
 * something still holds the event loop 2 s later, that is a leak: say which resources (a warn line
 * the fault tests look for) and exit anyway, so a sidecar never hangs on shutdown.
 */
import { main } from './cli.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => {
      const open = process.getActiveResourcesInfo();
      open.splice(open.indexOf('Timeout'), 1); // this timer
      process.stdout.write(
        `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), pid: process.pid, name: 'outbox-relay', resources: open, msg: 'handles still open at exit; exiting anyway' })}\n`,
      );
      process.exit(code);
    }, 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`outbox-relay: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
