/** The agent's ingest target: what the HTTP ingest and the socket accept is written to the spool before it is acknowledged. */
import { SpoolReader, classifyEnvelope, type SpoolWriter } from '@provml/capture-agent';
import {
  compileSpec,
  silentLogger,
  type CaptureEvent,
  type CompiledSpec,
  type Logger,
} from '@provml/schemas';
import { ANONYMOUS_ANNOTATOR, SpecRegistry } from '@provml/stream-processors';
import { UNKNOWN_OWNER, type AnnotationOwner, type IngestTarget } from './IngestTarget.ts';

/** Specs and annotation sources known elsewhere (the specs and annotations topics, when online). */
export interface SpecSource {
  spec(workflow: string): CompiledSpec | undefined;
  refreshSpecs(): Promise<void>;
  /** Who posted the current document of a source, as the annotations topic says. */
  annotationOwner?(source: string | undefined): Promise<AnnotationOwner>;
}

/** Settings of the spool ingest target. */
export interface SpoolIngestOptions {
  /** Specs registered through other agents (online); absent offline. */
  remote?: SpecSource;
  /** Longest wait for the remote specs per refresh, ms; slower answers are used next time. Default 2000. */
  refreshTimeoutMs?: number;
  /** Called after every append (wakes the publisher). */
  onAppend?: () => void;
  logger?: Logger;
}

/**
 * Appends specs, events and annotations to the spool as envelopes. Specs are known from the
 * spool itself (read once at start, so an offline agent keeps them across restarts) and from the
 * remote source when online.
 */
export class SpoolIngestTarget implements IngestTarget {
  private readonly local = new SpecRegistry();
  private refreshing: Promise<void> | undefined;
  private readonly logger: Logger;
  /**
   * Source (`''`: without a name) → who posted the document this agent spooled last (undefined:
   * withdrawn), and that record's sequence number in the spool.
   */
  private readonly spooledOwners = new Map<string, { owner: string | undefined; sequence: number }>();

  constructor(
    private readonly writer: SpoolWriter,
    private readonly options: SpoolIngestOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.loadSpooledSpecs();
  }

  spec(workflow: string): CompiledSpec | undefined {
    return this.local.get(workflow) ?? this.options.remote?.spec(workflow);
  }

  /** Catches up with the remote specs, bounded by `refreshTimeoutMs`; an unreachable broker is not an error here. */
  async refreshSpecs(): Promise<void> {
    const remote = this.options.remote;
    if (remote === undefined) return;
    this.refreshing ??= remote
      .refreshSpecs()
      .catch((error: unknown) =>
        this.logger.debug('specs not refreshed', { error: (error as Error).message }),
      )
      .finally(() => (this.refreshing = undefined));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.refreshing,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.refreshTimeoutMs ?? 2000))),
    ]);
    clearTimeout(timer);
  }

  async publishSpec(compiled: CompiledSpec): Promise<void> {
    await this.writer.append([{ spec: compiled.spec }]);
    this.local.set(compiled);
    this.options.onAppend?.();
  }

  async publishEvents(events: readonly CaptureEvent[]): Promise<void> {
    await this.writer.appendEvents(events); // validated: handed to the publisher as checked
    this.options.onAppend?.();
  }

  async publishAnnotations(turtle: string, source: string | undefined, annotator?: string): Promise<void> {
    const { first } = await this.writer.append([
      {
        annotations: turtle,
        ...(source === undefined ? {} : { source }),
        ...(annotator === undefined ? {} : { agent: annotator }),
      },
    ]);
    this.spooledOwners.set(source ?? '', {
      owner: turtle === '' ? undefined : (annotator ?? ANONYMOUS_ANNOTATOR),
      sequence: first,
    });
    this.options.onAppend?.();
  }

  /**
   * What this agent spooled last for the source while it is not yet published, else what the
   * annotations topic says (bounded by `refreshTimeoutMs`: UNKNOWN_OWNER when the broker does not
   * answer; other agents may have posted since). Offline (no remote), only what this agent spooled:
   * a replay to an HTTP ingest is checked there again.
   */
  async annotationOwner(source: string | undefined): Promise<AnnotationOwner> {
    const spooled = this.spooledOwners.get(source ?? '');
    const remote = this.options.remote?.annotationOwner?.bind(this.options.remote);
    if (spooled !== undefined && (remote === undefined || spooled.sequence >= this.writer.stats.published))
      return spooled.owner;
    if (remote === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const answer = await Promise.race<AnnotationOwner>([
      remote(source).catch((): AnnotationOwner => UNKNOWN_OWNER),
      new Promise<typeof UNKNOWN_OWNER>(
        (resolve) =>
          (timer = setTimeout(() => resolve(UNKNOWN_OWNER), this.options.refreshTimeoutMs ?? 2000)),
      ),
    ]);
    clearTimeout(timer);
    return answer;
  }

  /**
   * Appends lines already validated by `parseEnvelopeBatch`, registering the specs among them;
   * `events`: the validated event of each line (undefined for others).
   */
  async appendValidated(
    payloads: readonly Buffer[],
    specs: readonly CompiledSpec[],
    events?: readonly (CaptureEvent | undefined)[],
  ): Promise<void> {
    await this.writer.appendPayloads(payloads, events); // the publisher sends these events unparsed
    for (const s of specs) this.local.set(s);
    this.options.onAppend?.();
  }

  /** Registers every spec still in the spool (published or not). */
  private loadSpooledSpecs(): void {
    const reader = new SpoolReader(this.writer.dir);
    let pos = reader.positionOf(0);
    for (;;) {
      const read = reader.read(pos, { limit: this.writer.stats.next });
      if (read.records.length === 0 && read.skipped === 0) return;
      for (const r of read.records) {
        const text = r.payload.toString('utf8');
        if (!text.startsWith('{"spec"')) continue; // cheap test before parsing
        try {
          const e = classifyEnvelope(JSON.parse(text));
          if (e?.kind === 'spec') this.local.set(compileSpec((e.envelope as { spec: unknown }).spec));
        } catch {
          // an invalid spec is the publisher's to skip
        }
      }
      pos = read.next;
    }
  }
}
