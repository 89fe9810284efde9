/**
 * Batches of a non-transactional consumer handled several at a time (e.g. store loads in flight),
 * their offsets committed in order: a partition's offset moves past a batch only once it and every
 * batch handed over before it resolved.
 */
/** The offset a batch's commit moves its partition to. */
export interface NextOffset {
  topic: string;
  partition: number;
  offset: string;
}

interface Lane {
  pending: { next: NextOffset; done: boolean }[];
  /** The highest offset committed: a batch delivered again after a restart never moves it back. */
  committed: bigint;
  /** A batch of this partition failed: nothing after it is committed in this life of the consumer. */
  failed: boolean;
}

/** At most `max` batches in flight; offsets committed in order; the first failure reported once. */
export class OrderedCommits {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly lanes = new Map<string, Lane>();
  private commits: Promise<void> = Promise.resolve();
  private failed = false;
  private idle: (() => void) | undefined;

  constructor(
    private readonly max: number,
    private readonly commit: (offsets: NextOffset[]) => Promise<void>,
    /** Called once, on the first batch that rejects or commit that fails. */
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Batches handed over and not yet resolved. */
  get size(): number {
    return this.inFlight;
  }

  /** Resolves once fewer than `max` batches are in flight. */
  async admit(): Promise<void> {
    while (this.inFlight >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Tracks a batch handed to the handler; `next` is where its partition's offset goes after it. */
  track(next: NextOffset, handled: Promise<void>): void {
    const key = `${next.topic}\u0000${next.partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) this.lanes.set(key, (lane = { pending: [], committed: -1n, failed: false }));
    const entry = { next, done: false };
    lane.pending.push(entry);
    this.inFlight++;
    const l = lane;
    handled
      .then(
        () => {
          entry.done = true;
          this.advance(l);
        },
        (error: unknown) => {
          l.failed = true;
          this.fail(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.waiting.shift()?.();
        if (this.inFlight === 0) this.idle?.();
      });
  }

  /** Resolves once no batch is in flight and their commits are done (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    if (this.inFlight > 0)
      await Promise.race([new Promise<void>((resolve) => (this.idle = resolve)), deadline]);
    await Promise.race([this.commits, deadline]);
  }

  private advance(lane: Lane): void {
    if (lane.failed) return;
    let last: NextOffset | undefined;
    while (lane.pending.length > 0 && lane.pending[0]!.done) last = lane.pending.shift()!.next;
    if (last === undefined || BigInt(last.offset) <= lane.committed) return;
    lane.committed = BigInt(last.offset);
    const next = last;
    this.commits = this.commits.then(() => this.commit([next])).catch((error: unknown) => this.fail(error));
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.onFailure(error);
  }
}
