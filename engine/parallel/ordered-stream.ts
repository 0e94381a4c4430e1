/**
 * A comm stream whose order of collectives is fixed by the program, not by timing.
 *
 * Work on a stream comes in tasks (one unit's gradient reduction, one unit's parameter gather).
 * A task may issue several collectives, some from continuations of earlier ones (a HYBRID_SHARD
 * reduce-scatter then its cross-node all-reduce; PowerSGD's two rounds; a first-step scale
 * agreement). If tasks issued straight to the comm worker, task k's second collective and task
 * k-1's first would reach the queue in whichever order their continuations ran, and two ranks
 * could disagree. Here a task's collectives reach the comm worker only once every earlier task on
 * the stream has settled, and then in the order the task issued them: the sequence is
 * (task order, issue order within the task), the same on every rank by construction. A task's
 * own code still runs at once (coding overlaps the earlier tasks' communication); only the
 * hand-off of its collectives waits.
 */
import type { Comm } from '../comm/comm-types.js';
import { GROUP_COLLECTIVES, type GroupCollective } from '../comm/worker-protocol.js';

/** The collectives a task may issue (each returns a promise). */
const OPS = GROUP_COLLECTIVES;
type OpName = GroupCollective;

interface Task {
  /** Collectives issued while an earlier task was still running, in issue order. */
  held: (() => void)[];
  settled: boolean;
}

/** A Comm that can direct operations to a stream (CommClient); others have one stream. */
interface StreamCapable {
  withStream?<T>(s: number, issue: () => T): T;
}

export class OrderedStream {
  private readonly tasks: Task[] = [];

  constructor(
    private readonly comm: Comm,
    readonly stream: number,
  ) {}

  /** Runs `body` as the stream's next task; its collectives go through the Comm it is given. */
  task<T>(body: (comm: Comm) => Promise<T>): Promise<T> {
    const task: Task = { held: [], settled: false };
    this.tasks.push(task);
    let result: Promise<T>;
    try {
      result = body(this.view(task));
    } catch (e) {
      result = Promise.reject(e as Error);
    }
    const settle = (): void => {
      task.settled = true;
      this.advance();
    };
    result.then(settle, settle);
    return result;
  }

  /** Pops settled tasks off the head and releases the next task's held collectives. */
  private advance(): void {
    while (this.tasks.length > 0) {
      const head = this.tasks[0];
      for (const issue of head.held.splice(0)) issue();
      if (!head.settled) return;
      this.tasks.shift();
    }
  }

  private issue<R>(op: OpName, args: unknown[]): Promise<R> {
    const c = this.comm as unknown as Record<OpName, (...a: unknown[]) => Promise<R>> &
      StreamCapable;
    const call = (): Promise<R> => c[op](...args);
    return c.withStream ? c.withStream(this.stream, call) : call();
  }

  private view(task: Task): Comm {
    const ops = Object.fromEntries(
      OPS.map((op) => [
        op,
        (...args: unknown[]) => {
          if (task.settled) throw new Error(`a settled stream task issued ${op}`);
          if (this.tasks[0] === task) return this.issue(op, args);
          return new Promise((resolve, reject) =>
            task.held.push(() => this.issue(op, args).then(resolve, reject)),
          );
        },
      ]),
    );
    const base = this.comm;
    return {
      ...ops,
      rank: base.rank,
      world: base.world,
      // Not a collective: handing memory back needs no place in the stream's order.
      recycle: (parts: readonly Uint8Array[]) => base.recycle(parts),
      get stats() {
        return base.stats;
      },
    } as unknown as Comm;
  }
}
