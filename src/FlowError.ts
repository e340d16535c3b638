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
 * A replay does not match the journal: at a place where the journal recorded one operation the
 * code now calls another (another step, another kind of operation), or a step is called with
 * another input than the one recorded at its key.
 *
 * The flow's code (or its input) changed under executions in flight in a way that makes the
 * recorded journal no longer match the program. Ergon refuses to hand back recorded results to
 * code that did not record them. The message says what was recorded, what is called now, at
 * which key, and what to do.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NonDeterminismError extends Schema.TaggedError<NonDeterminismError>()("NonDeterminismError", {
  flowType: Schema.String,
  flowId: Schema.String,
  /** The journal key of the operation called now. */
  key: Schema.String,
  /**
   * What differs: `order` (another operation than the one recorded at this place), `kind` (the
   * same key recorded as another kind of operation), `input` (a step called with another input).
   */
  reason: Schema.Literal("order", "kind", "input"),
  /** What the journal recorded there. */
  recorded: Schema.String,
  /** What the code calls now. */
  current: Schema.String,
  /** For `input`: the hash of the recorded input. */
  recordedHash: Schema.optional(Schema.String),
  /** For `input`: the hash of the input now. */
  currentHash: Schema.optional(Schema.String),
  /**
   * For `order`: the patch that would have guarded the change, when the run took the old path at
   * a patch point (`Flow.patched` answered `false`, or `Flow.deprecatePatch` came too early) before
   * the mismatch.
   */
  patch: Schema.optional(Schema.String),
  /** Which fields differ, and what to do. */
  detail: Schema.String
}) {
  override get message(): string {
    return `flow '${this.flowType}' (${this.flowId}): replay does not match the journal at '${this.key}': recorded ${this.recorded}, now ${this.current}. ${this.detail}`
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
 * A value cannot be stored exactly: JSON would change it (`NaN`, `Infinity`, a bigint, a cycle, a
 * function, a symbol, `undefined` where JSON stores `null`, a `Date` or class instance), it nests
 * deeper than the store allows, or its JSON is larger than the store's `maxPayloadBytes`. Nothing
 * was written. `what` names the value (the input of a flow, the result of a step, a signal's
 * payload), `path` where in it the problem is (`$` is the value itself).
 *
 * Inside a flow (a step's result, a recorded value) it stops the flow: the flow is marked `failed`
 * with this error, once, and the step runs again only after a `Client.retry`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UnstorableValueError extends Schema.TaggedError<UnstorableValueError>()("UnstorableValueError", {
  what: Schema.String,
  reason: Schema.Literal("number", "bigint", "undefined", "function", "symbol", "cycle", "object", "depth", "size"),
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ergon: ${this.what} cannot be stored: at ${this.path}: ${this.detail}`
  }
}

/**
 * An id, a name or a journal key that no store can keep exactly: empty, not a string, holding a
 * NUL character or a lone UTF-16 surrogate, or longer than 1,024 bytes of UTF-8 (with a child
 * flow's id, which is its parent's id and the key of the call, and a journal entry's key, a
 * store's keys must stay under PostgreSQL's index limit). Nothing was written.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidIdError extends Schema.TaggedError<InvalidIdError>()("InvalidIdError", {
  kind: Schema.Literal("flow id", "flow name", "signal name", "journal key", "child flow id"),
  /** A printable preview of the value (cut short when long). */
  value: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ergon: invalid ${this.kind} ${this.value}: ${this.detail}`
  }
}

/**
 * An option of `schedule` or `execute` that is out of range: `runAt` that is not a finite time
 * (`NaN`, an invalid `Date`, a string), `priority` that is not an integer between -2^31 and
 * 2^31 - 1. Nothing was written.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidOptionError extends Schema.TaggedError<InvalidOptionError>()("InvalidOptionError", {
  option: Schema.String,
  value: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ergon: invalid option ${this.option} (${this.value}): ${this.detail}`
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
  | UnstorableValueError
  | InvalidIdError
  | InvalidOptionError
  | JournalLimitError

/**
 * A deployment version that is not a semantic version (`MAJOR.MINOR.PATCH`, with an optional
 * pre-release and build), or that could not be read (`fromEnv`: the variable is missing).
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidVersionError extends Schema.TaggedError<InvalidVersionError>()("InvalidVersionError", {
  /** Where the version came from, e.g. `env DEPLOY_VERSION`. */
  source: Schema.String,
  /** The value found, when there was one. */
  value: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return this.value === undefined
      ? `ergon: no deployment version in ${this.source}: ${this.detail}`
      : `ergon: '${this.value}' from ${this.source} is not a semantic version: ${this.detail}`
  }
}

/**
 * A flow pinned to some deployment versions was given to a scheduler or worker of another version
 * (or to an unversioned one). With `withVersion` this is a compile error; with `fromEnv` it is
 * found at run time and reported with this error.
 *
 * @since 0.1.0
 * @category Errors
 */
export class VersionMismatchError extends Schema.TaggedError<VersionMismatchError>()("VersionMismatchError", {
  flowType: Schema.String,
  /** The versions the flow is pinned to. */
  versions: Schema.Array(Schema.String),
  /** The version of the scheduler or worker, or null when it is unversioned. */
  deployment: Schema.NullOr(Schema.String)
}) {
  override get message(): string {
    return `ergon: flow '${this.flowType}' is pinned to versions ${this.versions.join(", ")}, not to ${
      this.deployment === null ? "an unversioned deployment" : `'${this.deployment}'`
    }`
  }
}

/**
 * `Flow.awaitSignal` gave up: no signal of that name came before its timeout.
 *
 * @since 0.1.0
 * @category Errors
 */
export class SignalTimeout extends Schema.TaggedError<SignalTimeout>()("SignalTimeout", {
  name: Schema.String,
  /** When the wait gave up (epoch millis). */
  timeoutAt: Schema.Number
}) {
  override get message(): string {
    return `ergon: no signal '${this.name}' arrived before ${new Date(this.timeoutAt).toISOString()}`
  }
}

/**
 * A flow was cancelled (by `cancel`, or because its parent was).
 *
 * @since 0.1.0
 * @category Errors
 */
export class FlowCancelledError extends Schema.TaggedError<FlowCancelledError>()("FlowCancelledError", {
  flowId: Schema.String
}) {
  override get message(): string {
    return `ergon: flow '${this.flowId}' was cancelled`
  }
}

/**
 * A flow was stopped by an engine error (non-determinism, a value that no longer decodes) and
 * waits for a fix and `Client.retry`. `error` is the engine error's tag and message.
 *
 * @since 0.1.0
 * @category Errors
 */
export class FlowFailedError extends Schema.TaggedError<FlowFailedError>()("FlowFailedError", {
  flowId: Schema.String,
  error: Schema.Struct({ _tag: Schema.String, message: Schema.String })
}) {
  override get message(): string {
    return `ergon: flow '${this.flowId}' stopped: ${this.error._tag}: ${this.error.message}`
  }
}

/**
 * No flow has that id.
 *
 * @since 0.1.0
 * @category Errors
 */
export class FlowNotFoundError extends Schema.TaggedError<FlowNotFoundError>()("FlowNotFoundError", {
  flowId: Schema.String
}) {
  override get message(): string {
    return `ergon: there is no flow '${this.flowId}'`
  }
}

/**
 * The flow has ended (completed or cancelled), so it can no longer take that request (a signal, a
 * cancellation).
 *
 * @since 0.1.0
 * @category Errors
 */
export class FlowEndedError extends Schema.TaggedError<FlowEndedError>()("FlowEndedError", {
  flowId: Schema.String,
  status: Schema.String,
  request: Schema.String
}) {
  override get message(): string {
    return `ergon: flow '${this.flowId}' is ${this.status}: cannot ${this.request}`
  }
}

/**
 * A signal payload does not match the schema it is sent with. Nothing was sent.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidSignalError extends Schema.TaggedError<InvalidSignalError>()("InvalidSignalError", {
  flowId: Schema.String,
  name: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ergon: signal '${this.name}' for flow '${this.flowId}' does not match its schema: ${this.detail}`
  }
}

/**
 * A worker was started without any registered flow: it would claim nothing, forever.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NoFlowsRegisteredError extends Data.TaggedError("NoFlowsRegisteredError")<{
  readonly worker: string
}> {
  override get message(): string {
    return `ergon: worker '${this.worker}' has no registered flows; call register(...flows) before run()`
  }
}

/**
 * A flow awaited an event that did not come before its deadline (`Flow.awaitEvent` with `timeout`).
 *
 * @since 0.3.0
 * @category Errors
 */
export class EventTimeout extends Schema.TaggedError<EventTimeout>()("EventTimeout", {
  name: Schema.String,
  /** When the wait gave up (epoch millis). */
  timeoutAt: Schema.Number
}) {
  override get message(): string {
    return `ergon: no event '${this.name}' was emitted before ${new Date(this.timeoutAt).toISOString()}`
  }
}

/**
 * The payload of an event does not match a schema: for a waiter, it does not decode with the schema
 * given to `Flow.awaitEvent` (a failure of that waiter only, recorded and replayed, not of the event
 * or of the other waiters); for an emitter, it does not encode with the schema given to
 * `Client.emitEvent` (nothing is emitted).
 *
 * @since 0.3.0
 * @category Errors
 */
export class InvalidEventError extends Schema.TaggedError<InvalidEventError>()("InvalidEventError", {
  name: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ergon: the payload of event '${this.name}' does not match its schema: ${this.detail}`
  }
}

/**
 * A flow's journal reached its limit (`Flow.make`'s `maxJournalEntries`): a flow that loops for a
 * long time must end each period with `Flow.continueAsNew`, so its journal starts empty again.
 *
 * @since 0.3.0
 * @category Errors
 */
export class JournalLimitError extends Schema.TaggedError<JournalLimitError>()("JournalLimitError", {
  flowType: Schema.String,
  flowId: Schema.String,
  limit: Schema.Number
}) {
  override get message(): string {
    return `ergon: flow '${this.flowId}' (${this.flowType}) has ${this.limit} journal entries, its limit: ` +
      `end each period of a long-running loop with Flow.continueAsNew(input), which starts a new execution ` +
      `with an empty journal (or raise maxJournalEntries in Flow.make)`
  }
}

/**
 * A step attempt ran longer than the step's `timeout` (`Step.make`'s option) and was interrupted. It
 * counts as a failed attempt, retried while the step's policy allows more attempts; once they are
 * spent, the step ends with it as a defect.
 *
 * @since 0.3.0
 * @category Errors
 */
export class StepTimeout extends Schema.TaggedError<StepTimeout>()("StepTimeout", {
  step: Schema.String,
  attempt: Schema.Number,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `ergon: step '${this.step}' attempt ${this.attempt} did not finish within ${this.timeoutMillis} ms`
  }
}

/**
 * `Client.migrate` (and `ergon versions migrate`) refused to re-stamp executions, and changed
 * nothing. `reason` says why:
 *
 * - `UnknownType`: no flow of that type is in the store and no live worker registers it;
 * - `SameVersion`: `from` and `to` are the same version;
 * - `NotPinnedToBoth`: the flow's `versions` (the definition given, or the pins a live worker
 *   registered for the type) do not list both `from` and `to`: the code of `to` was not declared
 *   able to replay executions of `from`;
 * - `WouldStrand`: no live worker would take the executions once stamped `to` (start workers of
 *   that version first).
 *
 * `detail` is the sentence to show.
 *
 * @since 0.3.0
 * @category Errors
 */
export class VersionMigrationError extends Schema.TaggedError<VersionMigrationError>()("VersionMigrationError", {
  reason: Schema.Literal("UnknownType", "SameVersion", "NotPinnedToBoth", "WouldStrand"),
  flowType: Schema.String,
  from: Schema.String,
  to: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ergon: cannot migrate flows of '${this.flowType}' from ${this.from} to ${this.to}: ${this.detail}`
  }
}
