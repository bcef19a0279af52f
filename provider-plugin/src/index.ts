/**
 * @nvgw/provider-plugin: the controller side of nvgw. A typed client of the provider API
 * (written from its OpenAPI contract), desired-state sync, the HNV PowerShell importer and
 * exporter, and nvgwctl's main for embedding.
 */
export { NvgwClient, ResourceClient, itemPath } from './client/client.js';
export type { ClientOptions, RetryInfo } from './client/client.js';
export { API_ERROR_CODES, NvgwApiError, NvgwConnectionError, UNEXPECTED_RESPONSE } from './client/errors.js';
export type { ApiErrorCode, ApiErrorDetail, ConnectionFailure } from './client/errors.js';
export { DEFAULT_RETRY, backoffDelay, isRetryable } from './client/retry.js';
export type { RetryPolicy } from './client/retry.js';
export { syncConfig } from './client/sync.js';
export type { DesiredState, SyncOptions, SyncResult } from './client/sync.js';
export { fetchTransport, nodeTransport } from './client/transport.js';
export type { TlsOptions, Transport, TransportRequest, TransportResponse } from './client/transport.js';
export * from './client/types.js';
export { compileScript } from './hnv/script.js';
export type { CompiledScript, HnvMap, Operation, ScriptProblem, SkippedStatement } from './hnv/script.js';
export { planScript } from './hnv/plan.js';
export type { PlanResult } from './hnv/plan.js';
export { HnvApiError, HnvScriptError, parseMapFile, runHnvScript } from './hnv/run.js';
export type { HnvRunOptions, HnvRunResult } from './hnv/run.js';
export { formatList, hnvProperties } from './hnv/format-list.js';
export { exportScript } from './hnv/export.js';
export { tokenize } from './hnv/tokenizer.js';
export { main as nvgwctl, USAGE, EXIT } from './cli/main.js';
export type { CliIo } from './cli/main.js';
