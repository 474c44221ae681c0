/** Errors of the retry-safe chain library (src/chain): thrown for misuse, with a one-line fix. */
export class OutboxUsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboxUsageError';
  }
}
