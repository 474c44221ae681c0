/**
 * Progress of a long command (prune, replay) on stderr, so stdout keeps only the answer. On a
 * terminal: one line redrawn in place with a bar, at most 10 times a second. Elsewhere (a log file,
 * CI, a pipe): a plain line every 5 s. Hand-written rather than cli-progress: these ~40 lines are all
 * two commands need, and a dependency would bring its own terminal handling to review and update.
 */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export class Progress {
  readonly #started = performance.now();
  /** A terminal sees the bar at once; a log gets its first line after everyMs. */
  #lastDraw: number;
  #drawn = false;

  constructor(
    private readonly verb: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly everyMs = stream.isTTY ? 100 : 5000,
  ) {
    this.#lastDraw = stream.isTTY ? -Infinity : this.#started;
  }

  update(done: number): void {
    const now = performance.now();
    if (now - this.#lastDraw < this.everyMs) return;
    this.#lastDraw = now;
    this.#draw(done, now);
  }

  /** Clear the in-place line, if one was drawn (the caller prints the summary). */
  finish(): void {
    if (this.stream.isTTY && this.#drawn) this.stream.write('\r\x1b[2K');
  }

  #draw(done: number, now: number): void {
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const share = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const text = `${this.verb} ${done} of ${this.total} rows (${Math.floor(share * 100)} %, ${rate} rows/s)`;
    if (this.stream.isTTY) {
      const width = 30;
      const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '-');
      this.stream.write(`\r\x1b[2K[${bar}] ${text}`);
      this.#drawn = true;
    } else {
      this.stream.write(`${text}\n`);
    }
  }
}

/** "1234 rows in 2.5 s (494 rows/s)": the tail of a final summary line. */
export function rateText(rows: number, ms: number): string {
  return `in ${(ms / 1000).toFixed(1)} s (${ms > 0 ? Math.round((rows * 1000) / ms) : rows} rows/s)`;
}
