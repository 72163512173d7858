// Leader tasks: periodic work that must run once cluster-wide, on the node elected leader (leader.ts). A task runs
// every `intervalMs` while this node leads, starts when it is elected and stops at once when it is deposed (lease
// lost, left): two nodes never run one for longer than the lease fence allows (membership.ts).
//
// The cluster's tasks (wired by ClusterNode): `retained-cleanup` removes expired retained messages everywhere (the
// retained set is replicated to every node: the leader deletes and replicates the deletion; on the other nodes an
// expired retained message only goes when a subscription reads it). Session expiry and queue retention are not
// leader tasks: each session, and each queue slot, has exactly one owner node (client-id ownership, slot ownership
// in etcd), whose timers expire it — running those on the leader would move state that lives elsewhere.
import type { Clock, Logger, TimerHandle } from "../util/index.ts";
import type { LeaderElection } from "./leader.ts";

export interface LeaderTaskStats {
  readonly intervalMs: number;
  /** Runs on this node (only while it led). */
  readonly runs: number;
  /** Times this node started the task: once per term it led (0: it never led while the task existed). */
  readonly starts: number;
  /** What the last run reported (e.g. messages removed), -1 before the first run. */
  readonly lastResult: number;
}

interface Task {
  readonly name: string;
  readonly intervalMs: number;
  readonly run: () => number;
  timer: TimerHandle | undefined;
  runs: number;
  starts: number;
  lastResult: number;
}

export class LeaderTasks {
  readonly #tasks: Task[] = [];
  readonly #detach: (() => void)[];

  constructor(
    private readonly leader: Pick<LeaderElection, "isLeader" | "on">,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.#detach = [
      leader.on("elected", () => {
        for (const t of this.#tasks) this.#start(t);
      }),
      leader.on("deposed", () => {
        for (const t of this.#tasks) this.#disarm(t);
      }),
    ];
  }

  /** Adds a task (intervalMs 0: never runs); it starts now if this node leads. */
  add(name: string, intervalMs: number, run: () => number): void {
    const t: Task = { name, intervalMs, run, timer: undefined, runs: 0, starts: 0, lastResult: -1 };
    this.#tasks.push(t);
    if (this.leader.isLeader) this.#start(t);
  }

  stats(): Record<string, LeaderTaskStats> {
    const out: Record<string, LeaderTaskStats> = {};
    for (const t of this.#tasks)
      out[t.name] = { intervalMs: t.intervalMs, runs: t.runs, starts: t.starts, lastResult: t.lastResult };
    return out;
  }

  close(): void {
    for (const fn of this.#detach) fn();
    for (const t of this.#tasks) this.#disarm(t);
  }

  /** This node leads (elected, or leading when the task was added). */
  #start(t: Task): void {
    if (t.intervalMs > 0) t.starts++;
    this.#arm(t);
  }

  #arm(t: Task): void {
    if (t.timer !== undefined || t.intervalMs <= 0) return;
    t.timer = this.clock.setTimeout(() => {
      t.timer = undefined;
      if (!this.leader.isLeader) return;
      try {
        t.lastResult = t.run();
        t.runs++;
      } catch (err) {
        this.logger.error({ err, task: t.name }, "leader task failed");
      }
      this.#arm(t);
    }, t.intervalMs);
  }

  #disarm(t: Task): void {
    t.timer?.cancel();
    t.timer = undefined;
  }
}
