/**
 * Reads and controls flows from any process that can reach the store: status, result, listing,
 * cancellation, signals, and retrying a failed flow.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import { ExecutionLog as ExecutionLogTag, type FlowFilter, type FlowStatus } from "./ExecutionLog.js"
import type { ExecutionLog } from "./ExecutionLog.js"
import type * as Flow from "./Flow.js"
import type {
  CheckpointDecodeError,
  FlowCancelledError,
  FlowEndedError,
  FlowFailedError,
  FlowNotFoundError,
  InvalidEventError,
  InvalidSignalError,
  StoreError
} from "./FlowError.js"
import * as internal from "./internal/client.js"

/**
 * The status of a flow (`pending`, `running`, `suspended`, `completed`, `failed`, `cancelled`).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const status: (id: string) => Effect.Effect<FlowStatus, FlowNotFoundError | StoreError, ExecutionLog> =
  internal.status

/**
 * The flow's stored record (status, version, parent, attempts, timestamps, encoded payloads).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const get = (id: string): Effect.Effect<Option.Option<ExecutionLog.FlowRecord>, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, (log) => log.getFlow(id))

/**
 * The flow's result, decoded with its schemas: `None` while it has not completed.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const result: <F extends Flow.Any>(
  flow: F,
  id: string
) => Effect.Effect<
  Option.Option<Exit.Exit<Flow.Flow.Success<F>, Flow.Flow.Error<F>>>,
  FlowNotFoundError | CheckpointDecodeError | StoreError,
  ExecutionLog
> = internal.result

/**
 * Waits for the flow to end and returns its success, or fails with its typed error (or
 * `FlowCancelledError` / `FlowFailedError`). Woken at once by work in this process; polls with
 * backoff otherwise.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const awaitResult: <F extends Flow.Any>(
  flow: F,
  id: string
) => Effect.Effect<
  Flow.Flow.Success<F>,
  Flow.Flow.Error<F> | FlowCancelledError | FlowFailedError | FlowNotFoundError | CheckpointDecodeError | StoreError,
  ExecutionLog
> = internal.awaitResultTyped

/**
 * Lists flows by status, type, version (`null`: unversioned) or parent, in id order.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const list: (filter: FlowFilter) => Effect.Effect<ReadonlyArray<ExecutionLog.FlowRecord>, StoreError, ExecutionLog> =
  internal.list

/**
 * Cancels a flow that has not ended, and its children: a running step is interrupted (its worker's
 * lease is gone), and the flow ends `cancelled`. The `reason`, when given, is recorded on the flow
 * (`cancelReason` in `get`/`list`); children cancelled with it get `"parent canceled"`. Cancelling a
 * flow already cancelled succeeds and changes nothing (its first reason stays); cancelling a
 * completed flow is a `FlowEndedError`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const cancel: (
  id: string,
  options?: { readonly reason?: string | undefined } | undefined
) => Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog> = internal.cancel

/**
 * Emits the named event `name`, for every flow that awaits it (`Flow.awaitEvent`), now or later:
 * stored unless one of that name was emitted before (the first emit wins), then the flows
 * waiting for it are woken, in any process. Returns whether this emit stored the event. With
 * `schema`, the payload is encoded with it first (`InvalidEventError`, nothing emitted). Called
 * inside a flow, it is recorded as the flow's operation, so a replay does not emit again.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const emitEvent: <P, PI = P>(
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
) => Effect.Effect<boolean, InvalidEventError | StoreError, ExecutionLog> = internal.emitEvent

/**
 * The executions of a flow in order (1, 2, …): those ended by `Flow.continueAsNew` (status
 * `"continued"`, with their input and journal size), then the current one.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const listExecutions: (
  id: string
) => Effect.Effect<ReadonlyArray<ExecutionLog.ExecutionRecord>, FlowNotFoundError | StoreError, ExecutionLog> =
  internal.listExecutions

/**
 * Sends a signal to a flow: written durably, then the flow is woken if it waits for that name. With
 * `schema`, the payload is checked and encoded first (`InvalidSignalError`, nothing sent); without
 * it, the payload is stored as JSON and the receiver decodes it with its own schema. A flow that does
 * not exist, or has ended, is a typed error.
 *
 * The arguments come in the order of `Flow.awaitSignal(name, schema)` and of a handle's
 * `signal(name, schema, payload)`: `Client.signal(id, name, schema, payload)`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const signal: {
  <P, PI>(
    id: string,
    name: string,
    schema: Schema.Schema<P, PI, never>,
    payload: P
  ): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>
  (
    id: string,
    name: string,
    payload: unknown
  ): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>
} = (id: string, name: string, ...rest: [unknown] | [Schema.Schema<any, any, never>, unknown]) =>
  rest.length === 2 ? internal.signal(id, name, rest[1], rest[0]) : internal.signal(id, name, rest[0])

/**
 * Makes a flow that ended in failure run again: one stopped by an engine error replays its journal
 * (once the code is fixed); one whose program failed has its failed journal entries dropped, so the
 * failing steps run again. Retrying a flow that succeeded is a `FlowEndedError`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const retry: (id: string) => Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog> =
  internal.retry

/**
 * A handle on an existing flow.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const handle: <F extends Flow.Any>(flow: F, id: string) => internal.FlowHandle<Flow.Flow.Success<F>, Flow.Flow.Error<F>> =
  internal.handle

/**
 * Deletes ended flows: root flows (no parent) of the given `status` that ended before
 * `finishedBefore` (and of `type`, when given), each with its children and everything stored for
 * them (journals, archived executions, signals, timers), in batches of `batchSize` (default 500)
 * root flows per transaction, oldest first, until none is left. A flow with a child that has not
 * ended is kept. A `failed` flow (stopped by an engine error) counts as ended at its last update.
 * With `eventsBefore`, events emitted before that time are deleted too (a flow awaiting one of
 * them later would then wait for a new emit). Returns how many root flows and events were
 * deleted. A worker can run it as it goes: `Worker.withRetention`.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const purge: (options: {
  readonly status: "completed" | "cancelled" | "failed" | ReadonlyArray<"completed" | "cancelled" | "failed">
  readonly finishedBefore: Date | number
  readonly type?: string | undefined
  readonly batchSize?: number | undefined
  readonly eventsBefore?: Date | number | undefined
}) => Effect.Effect<{ readonly flows: number; readonly events: number }, StoreError, ExecutionLog> = internal.purge
