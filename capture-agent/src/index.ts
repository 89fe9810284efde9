/** Public API of the capture library. */
export { init, Capture, WorkflowRun, TaskRun } from './Capture.ts';
export type { CaptureOptions, TaskValues, EndValues, DataRefsInput } from './Capture.ts';
export { BatchProcessor } from './BatchProcessor.ts';
export type { BatchProcessorOptions, BatchProcessorStats, OverflowPolicy } from './BatchProcessor.ts';
export { InMemoryCaptureExporter } from './CaptureExporter.ts';
export type { CaptureExporter, ExportResult } from './CaptureExporter.ts';
export { withRetry } from './retry.ts';
export type { RetryOptions } from './retry.ts';
export { collectExecutionContext } from './executionContext.ts';
export { MultiCaptureExporter } from './MultiCaptureExporter.ts';
