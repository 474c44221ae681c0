/**
 * SIGTERM/SIGINT, registered once: the first signal starts the graceful shutdown, a second one
 * forces the exit. dispose() removes the handlers (tests and embedders call it).
 */
export interface SignalHandlers {
  first(signal: NodeJS.Signals): void;
  second(signal: NodeJS.Signals): void;
}

export function onShutdownSignals(handlers: SignalHandlers, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): { dispose(): void } {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count += 1;
    if (count === 1) handlers.first(signal);
    else handlers.second(signal);
  };
  for (const s of signals) process.on(s, handler);
  return {
    dispose: () => {
      for (const s of signals) process.off(s, handler);
    },
  };
}
