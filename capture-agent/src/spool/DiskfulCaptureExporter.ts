/** The diskful capture transport of the library (settings B, C, E, F): its own spool, and a background publisher when online. */
import { silentLogger, type CaptureEvent, type Logger, type ProspectiveSpec } from '@provml/schemas';
import type { CaptureExporter, ExportResult } from '../CaptureExporter.ts';
import { ExporterPublishPort, SpoolCaptureExporter } from './SpoolCaptureExporter.ts';
import { SpoolPublisher, type SpoolPublisherStats } from './SpoolPublisher.ts';
import { SpoolWriter, type SpoolOptions, type SpoolStats } from './SpoolWriter.ts';

/** Settings of a diskful capture. */
export interface DiskfulOptions extends SpoolOptions {
  /** The spool directory (created if missing; one writer at a time). */
  dir: string;
  /** How long `shutdown()` waits for the publisher to catch up, ms; the rest stays spooled. Default 30000. */
  drainTimeoutMs?: number;
}

/**
 * Writes every export to a spool; when `downstream` is given (online), a background publisher
 * ships the spool through it in order, so the caller's exports never wait for the broker.
 */
export class DiskfulCaptureExporter implements CaptureExporter {
  private readonly writer: SpoolWriter;
  private readonly publisher: SpoolPublisher | undefined;
  private readonly spool: SpoolCaptureExporter;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly options: DiskfulOptions,
    private readonly downstream: CaptureExporter | undefined,
    logger: Logger = silentLogger,
  ) {
    this.writer = SpoolWriter.open(options.dir, { ...options, logger: options.logger ?? logger });
    this.publisher =
      downstream === undefined
        ? undefined
        : new SpoolPublisher(this.writer, new ExporterPublishPort(downstream), { logger });
    this.spool = new SpoolCaptureExporter(this.writer, () => this.publisher?.notify());
    this.publisher?.start();
  }

  /** Counters of the spool and, online, of its publisher. */
  get stats(): { spool: SpoolStats; publisher: Readonly<SpoolPublisherStats> | undefined } {
    return { spool: this.writer.stats, publisher: this.publisher?.stats };
  }

  exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.spool.exportSpec(spec);
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.spool.exportEvents(events);
  }

  /** Publishes what is spooled (bounded by `drainTimeoutMs`), closes the spool and the downstream. Idempotent. */
  shutdown(): Promise<void> {
    this.closed ??= (async () => {
      if (this.publisher !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.publisher.drain(),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, this.options.drainTimeoutMs ?? 30_000);
            timer.unref();
          }),
        ]);
        clearTimeout(timer);
        await this.publisher.shutdown();
      }
      await this.writer.close();
      await this.downstream?.shutdown();
    })();
    return this.closed;
  }
}
