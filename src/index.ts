/**
 * @since 0.1.0
 */
export * as Client from "./Client.js"
export * as Dag from "./Dag.js"
export * as ExecutionLog from "./ExecutionLog.js"
export * as Executor from "./Executor.js"
export * as Flow from "./Flow.js"
export * from "./FlowError.js"
export * as Observability from "./Observability.js"
export * as Retryable from "./Retryable.js"
export * as RetryPolicy from "./RetryPolicy.js"
export * as Scheduler from "./Scheduler.js"
export * as SignalSource from "./SignalSource.js"
export * as Step from "./Step.js"
export * as Version from "./Version.js"
export * as Worker from "./Worker.js"
