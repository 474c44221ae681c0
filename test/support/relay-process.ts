/** The relay as a real child process (bin/outbox-relay), for fault tests that kill and signal it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/outbox-relay', import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface RelayProcess {
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

function kafkaClient(): Record<string, string> {
  return process.env.KAFKA_CLIENT ? { KAFKA_CLIENT: process.env.KAFKA_CLIENT } : {};
}

export function spawnCli(args: string[], env: Record<string, string>): RelayProcess {
  // The shim runs `node` from PATH: put this test run's node first (the suite runs on Node 20 and 24).
  const child = spawn(BIN, args, {
    // Any free port for /metrics unless the test names one: relays run side by side in the suite.
    // KAFKA_CLIENT from the test run's environment, if set, runs these process tests with that client.
    env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, OUTBOX_HTTP_ADDR: '127.0.0.1:0', ...kafkaClient(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 'stdout', msg: text };
      }
      logs.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    kill: (signal = 'SIGTERM') => {
      child.kill(signal);
    },
    waitForLog(match, timeoutMs = 60_000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`relay exited (code ${code}, signal ${signal}) before the log line; stderr: ${stderr.slice(-2000)}`));
        });
      });
    },
  };
}

export function spawnRelay(env: Record<string, string>, args: string[] = []): RelayProcess {
  return spawnCli(['run', ...args], { LOG_LEVEL: 'debug', ...env });
}

/**
 * Environment that turns on the relay's fault-test seam (src/cli.ts testHooks): it needs both
 * variables, so a stray OUTBOX_RELAY_TEST_KILL alone never kills a real relay.
 * spec = <before-publish|after-ack>:<batch>[:SIGSTOP].
 */
export function testKill(spec: string): Record<string, string> {
  return { OUTBOX_RELAY_TEST_SEAMS: '1', OUTBOX_RELAY_TEST_KILL: spec };
}

/** Rejects when the relay exits: race it against a wait so a crash fails the test at once. */
export function failIfExits(relay: RelayProcess): Promise<never> {
  return relay.exited.then((exit) => Promise.reject(new Error(`relay exited: ${JSON.stringify(exit)}; stderr: ${relay.stderr().slice(-1500)}`)));
}

/** Whether the process is stopped (SIGSTOP), from its state letter in /proc (Linux). */
export function isStopped(pid: number): boolean {
  try {
    return /\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export const started = (l: LogLine) => l.msg === 'relay started';

/** Run an operator command (status, doctor, replay, prune, dead) to its end: exit code, raw stdout and stderr. */
export function runCommand(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(BIN, args, { env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
