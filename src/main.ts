/**
 * Process entry (bin/outbox-relay): run the CLI and exit with its code.
 * After a clean run the process should end by itself: every socket, timer and child closed. If
 * something still holds the event loop 2 s later, that is a leak: say which resources (a warn line
 * the fault tests look for) and exit anyway, so a sidecar never hangs on shutdown.
 */
import { main } from './cli.js';

/** A log line in the logger's shape, for the moments before/after the logger exists. */
function logLine(level: string, msg: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, name: 'outbox-relay', ...fields, msg })}\n`);
}

// Node prints process warnings as free text on stderr; a daemon's logs are JSON lines on stdout.
// kafkajs 2.2.4 computes a negative setTimeout delay while not throttled (requestQueue
// scheduleCheckPendingRequests), which Node >= 23 reports as TimeoutNegativeWarning; Node has
// always treated such a delay as 1 ms, so it is harmless and not worth a line.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'TimeoutNegativeWarning') return;
  logLine('warn', warning.message, { warning: warning.name });
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => {
      const open = process.getActiveResourcesInfo(); // this timer is unref'd, so not listed
      logLine('warn', 'handles still open at exit; exiting anyway', { resources: open });
      process.exit(code);
    }, 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`outbox-relay: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
