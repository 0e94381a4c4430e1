/**
 * What closing the window or quitting the app does while a benchmark runs, without Electron (so
 * it is tested against a real service with real ranks): ask first; on yes cancel every run and
 * quit only once they have ended (every rank process gone); on no keep everything running.
 */

/** The part of the engine's ApiService the guard needs. */
export interface RunOwner {
  /** True while a run started by this process is still going. */
  readonly busy: boolean;
  /** Cancels every running run; resolves when all of them have ended. */
  cancelAll(): Promise<void>;
}

export interface CloseGuardOptions {
  /** Asks the user; true to cancel the running benchmarks and quit. */
  confirm: () => boolean;
  /** Quits for real (called once, after the runs have ended). */
  quit: () => void;
}

export class CloseGuard {
  private state: 'open' | 'cancelling' | 'done' = 'open';
  /** Settles when the cancel-and-quit started by a confirmed close has finished. */
  closing: Promise<void> | undefined;

  constructor(
    private readonly owner: RunOwner,
    private readonly opts: CloseGuardOptions,
  ) {}

  /**
   * Called from a window's `close` and the app's `before-quit`; returns true when that close
   * must be prevented now. While runs are being cancelled every close waits: quitting before
   * the ranks are gone would orphan a rank that ignores SIGTERM (a stuck one needs the SIGKILL
   * that follows the grace period).
   */
  request(): boolean {
    if (this.state === 'done') return false;
    if (this.state === 'cancelling') return true;
    if (!this.owner.busy) return false;
    if (!this.opts.confirm()) return true;
    this.state = 'cancelling';
    this.closing = this.owner
      .cancelAll()
      .catch(() => undefined)
      .then(() => {
        this.state = 'done';
        this.opts.quit();
      });
    return true;
  }
}
