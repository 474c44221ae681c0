/**
 * A level-triggered wake-up signal for the idle relay: notify() before wait() is not lost, so a
 * NOTIFY that lands while a claim is running makes the next wait return at once.
 */
export type WakeReason = 'notify' | 'timeout';

export class Wakeup {
  #pending = false;
  #resolve: ((reason: WakeReason) => void) | undefined;

  notify(): void {
    if (this.#resolve) {
      const resolve = this.#resolve;
      this.#resolve = undefined;
      resolve('notify');
    } else {
      this.#pending = true;
    }
  }

  /** Consume a pending notification, if any, without waiting. */
  take(): boolean {
    const was = this.#pending;
    this.#pending = false;
    return was;
  }

  wait(ms: number): Promise<WakeReason> {
    if (this.take()) return Promise.resolve('notify');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve('timeout');
      }, ms);
      this.#resolve = (reason) => {
        clearTimeout(timer);
        resolve(reason);
      };
    });
  }
}
