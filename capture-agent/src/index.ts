/** Public API of the capture library. */
export { init, Capture, WorkflowRun, TaskRun } from './Capture.ts';
export type { CaptureOptions, TaskValues, EndValues, DataRefsInput, DataRefInput } from './Capture.ts';
export { fileDigest } from './fileDigest.ts';
export {
  SystemMetrics,
  SYSTEM_METRICS,
  declareSystemMetrics,
  systemMetricOutputs,
} from './sysmetrics/SystemMetrics.ts';
export type { SystemMetricsOptions } from './sysmetrics/SystemMetrics.ts';
export { BatchProcessor, warnOnError } from './BatchProcessor.ts';
export { deliveryResult } from './DeliveryResult.ts';
export type { DeliveryResult } from './DeliveryResult.ts';
export { SpecChecker, CaptureMistakeError } from './SpecChecker.ts';
export type { MistakeKind } from './SpecChecker.ts';
export { HttpCaptureExporter } from './HttpCaptureExporter.ts';
export type { HttpExporterOptions } from './HttpCaptureExporter.ts';
export { SpillingCaptureExporter } from './spool/SpillingCaptureExporter.ts';
export type { SpillOptions, SpillStats } from './spool/SpillingCaptureExporter.ts';
export type { BatchProcessorOptions, BatchProcessorStats, OverflowPolicy } from './BatchProcessor.ts';
export { InMemoryCaptureExporter } from './CaptureExporter.ts';
export type { CaptureExporter, ExportResult } from './CaptureExporter.ts';
export { withRetry } from './retry.ts';
export type { RetryOptions } from './retry.ts';
export { collectExecutionContext } from './executionContext.ts';
export {
  detectDistributed,
  distributedContext,
  jobWorkflowExecution,
  resolveCaptureRanks,
} from './distributedContext.ts';
export type { Distributed, CaptureRanks } from './distributedContext.ts';
export { MultiCaptureExporter } from './MultiCaptureExporter.ts';
export { SpoolWriter } from './spool/SpoolWriter.ts';
export type { SpoolOptions, SpoolStats, FsyncPolicy, CapPolicy } from './spool/SpoolWriter.ts';
export { SpoolReader } from './spool/SpoolReader.ts';
export type { SpoolRecord, SpoolRead, ReadLimits } from './spool/SpoolReader.ts';
export { SpoolPublisher } from './spool/SpoolPublisher.ts';
export type { SpoolPublishPort, SpoolPublisherOptions, SpoolPublisherStats } from './spool/SpoolPublisher.ts';
export { SpoolCaptureExporter, ExporterPublishPort } from './spool/SpoolCaptureExporter.ts';
export { recoverSpool, listSegments } from './spool/recoverSpool.ts';
export type { SegmentInfo, SpoolPosition, RecoveryReport } from './spool/recoverSpool.ts';
export {
  acquireLock,
  releaseLock,
  readPublished,
  writePublished,
  bootId,
  formatLock,
  parseLock,
  processStart,
} from './spool/spoolFiles.ts';
export {
  encodeRecord,
  encodeEnvelope,
  decodeEnvelope,
  classifyEnvelope,
  scanRecords,
  segmentName,
  parseSegmentName,
  parsePublished,
  RECORD_HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
} from './spool/spoolFormat.ts';
export type {
  SpoolEnvelope,
  EnvelopeKind,
  ScanResult,
  ScanStop,
  ScannedRecord,
} from './spool/spoolFormat.ts';
export { DiskfulCaptureExporter } from './spool/DiskfulCaptureExporter.ts';
export type { DiskfulOptions } from './spool/DiskfulCaptureExporter.ts';
export { SocketCaptureExporter } from './SocketCaptureExporter.ts';
export { captureJson, eventJson, eventEnvelopeJson } from './captureJson.ts';
export type { SocketExporterOptions } from './SocketCaptureExporter.ts';
