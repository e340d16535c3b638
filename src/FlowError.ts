/**
 * Every public error class of Ergon.
 *
 * Errors that are persisted, or that cross the journal, are `Schema.TaggedError`s so they can be
 * encoded. Errors that only live in one process (a store that cannot be reached, a definition
 * that is wrong) are `Data.TaggedError`s.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Schema from "effect/Schema"

/**
 * A step was called on replay with an input different from the one recorded at the same key.
 *
 * The flow's code (or its input) changed in a way that makes the recorded log no longer match
 * the program. Ergon refuses to hand back a cached value computed from another input.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NonDeterminismError extends Schema.TaggedError<NonDeterminismError>()("NonDeterminismError", {
  flowType: Schema.String,
  flowId: Schema.String,
  key: Schema.String,
  recordedHash: Schema.String,
  currentHash: Schema.String
}) {
  override get message(): string {
    return `flow '${this.flowType}' (${this.flowId}): step '${this.key}' was recorded with input hash ${this.recordedHash} but is now called with input hash ${this.currentHash}`
  }
}

/**
 * A value in the store no longer decodes with the schema the code declares for it (the schema
 * changed after the value was written, or the row was edited by hand).
 *
 * @since 0.1.0
 * @category Errors
 */
export class CheckpointDecodeError extends Schema.TaggedError<CheckpointDecodeError>()("CheckpointDecodeError", {
  flowType: Schema.String,
  flowId: Schema.String,
  /** The step key, or `$input` / `$result` for the flow's own input and result. */
  key: Schema.String,
  /** A description of the schema the value was decoded with. */
  schema: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `flow '${this.flowType}' (${this.flowId}): the stored value of '${this.key}' does not decode with schema ${this.schema}: ${this.detail}`
  }
}

/**
 * The input given to a flow does not match the flow's input schema. Nothing was written.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidInputError extends Schema.TaggedError<InvalidInputError>()("InvalidInputError", {
  flowType: Schema.String,
  flowId: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `flow '${this.flowType}' (${this.flowId}): the input does not match the flow's input schema: ${this.detail}`
  }
}

/**
 * A flow id is already taken by a flow of another type, or by the same flow with another input.
 *
 * @since 0.1.0
 * @category Errors
 */
export class FlowConflictError extends Schema.TaggedError<FlowConflictError>()("FlowConflictError", {
  flowId: Schema.String,
  reason: Schema.Literal("type", "input"),
  existing: Schema.String,
  requested: Schema.String
}) {
  override get message(): string {
    return this.reason === "type"
      ? `flow id '${this.flowId}' belongs to a flow of type '${this.existing}', not '${this.requested}'`
      : `flow id '${this.flowId}' was started with another input (hash ${this.existing}, now ${this.requested})`
  }
}

/**
 * A value could not be encoded for storage (a step returned a value that its `success` schema
 * refuses, for example). This is a bug in the flow's code, reported instead of storing garbage.
 *
 * @since 0.1.0
 * @category Errors
 */
export class CheckpointEncodeError extends Schema.TaggedError<CheckpointEncodeError>()("CheckpointEncodeError", {
  flowType: Schema.String,
  flowId: Schema.String,
  key: Schema.String,
  schema: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `flow '${this.flowType}' (${this.flowId}): the value of '${this.key}' cannot be encoded with schema ${this.schema}: ${this.detail}`
  }
}

/**
 * The store could not be opened, read or written.
 *
 * `operation` names what was attempted (`open`, `migrate`, `loadFlow`, `putStep`, …). Nothing is
 * lost: the flow's state is whatever the store last committed, and running it again resumes.
 *
 * @since 0.1.0
 * @category Errors
 */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `ergon store: ${this.operation} failed: ${this.detail}`
  }
}

/**
 * The lease under which a worker was running a flow has been taken over by another worker, so
 * this worker may no longer write checkpoints for it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class LeaseLostError extends Data.TaggedError("LeaseLostError")<{
  readonly flowId: string
  readonly owner: string
  readonly epoch: number
}> {
  override get message(): string {
    return `ergon: the lease on flow '${this.flowId}' held by '${this.owner}' (epoch ${this.epoch}) was lost`
  }
}

/**
 * A flow or step definition that the types could not rule out is invalid (an empty name, for
 * example).
 *
 * @since 0.1.0
 * @category Errors
 */
export class FlowDefinitionError extends Data.TaggedError("FlowDefinitionError")<{
  readonly name: string
  readonly detail: string
}> {
  override get message(): string {
    return `ergon: invalid definition '${this.name}': ${this.detail}`
  }
}

/**
 * The errors an execution of a flow can fail with, apart from the flow's own typed errors
 * (which are part of its result).
 *
 * @since 0.1.0
 * @category Errors
 */
export type ExecutionError =
  | NonDeterminismError
  | CheckpointDecodeError
  | CheckpointEncodeError
  | InvalidInputError
  | FlowConflictError
  | StoreError
  | LeaseLostError
