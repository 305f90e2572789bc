/**
 * A bound on concurrent jobs with a bounded FIFO queue. Jobs that wait past their deadline are dropped
 * from the queue without running; a full queue rejects at once (the server answers 503).
 */
export class QueueFullError extends Error {}
export class QueueTimeoutError extends Error {}

interface Waiter {
  start: () => void;
  timer: ReturnType<typeof setTimeout> | null;
}

export class Limiter {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private idleResolvers: (() => void)[] = [];

  constructor(readonly concurrency: number, readonly maxQueue: number) {
    if (!(concurrency >= 1)) throw new Error(`concurrency must be >= 1, got ${concurrency}`);
    if (!(maxQueue >= 0)) throw new Error(`queue size must be >= 0, got ${maxQueue}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Run `job` when a slot is free. Rejects with QueueFullError, or QueueTimeoutError if it waited `waitMs`. */
  async run<T>(job: () => Promise<T>, waitMs = Infinity): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) throw new QueueFullError(`server busy: ${this.running} running and ${this.waiting.length} queued`);
      await new Promise<void>((resolve, reject) => {
        const w: Waiter = { start: resolve, timer: null };
        if (Number.isFinite(waitMs)) {
          w.timer = setTimeout(() => {
            const i = this.waiting.indexOf(w);
            if (i >= 0) this.waiting.splice(i, 1);
            reject(new QueueTimeoutError(`timed out after ${waitMs} ms in the queue`));
          }, waitMs);
        }
        this.waiting.push(w);
      });
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) {
        // hand the slot over: running stays the same
        if (next.timer) clearTimeout(next.timer);
        next.start();
      } else {
        this.running--;
        if (this.running === 0) {
          for (const r of this.idleResolvers.splice(0)) r();
        }
      }
    }
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleResolvers.push(r));
  }
}
