/**
 * Where signals come from.
 *
 * By default the store itself is the source: `Client.signal` (or a handle's `signal`) writes the
 * signal durably and wakes the flow, from any process. Signals that arrive somewhere else (a queue,
 * a webhook, a test's recording) are adapted with a `SignalSource` Layer: a worker started with
 * `withSignals()` reads that source and delivers each signal to the store. A signal for a flow that
 * does not exist, has ended, or whose payload does not match is reported (logged with its reason
 * and counted in `Delivery`), never dropped silently.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { ExecutionLog } from "./ExecutionLog.js"
import type { FlowEndedError, FlowNotFoundError, InvalidSignalError, StoreError } from "./FlowError.js"
import * as client from "./internal/client.js"

/**
 * A signal from an outside source.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Signal {
  readonly flowId: string
  readonly name: string
  readonly payload: unknown
  /** Checks and encodes the payload before it is stored. */
  readonly schema?: Schema.Schema<any, any, never> | undefined
}

/**
 * The source of outside signals, read by workers started with `withSignals()`.
 *
 * @since 0.1.0
 * @category Services
 */
export class SignalSource extends Context.Tag("ergon/SignalSource")<SignalSource, {
  /** The outside signals, in order; `Stream.empty` for the store-backed default. */
  readonly signals: Stream.Stream<Signal>
}>() {}

/**
 * The default: no outside source; signals are sent through the store (`Client.signal`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerStore: Layer.Layer<SignalSource> = Layer.succeed(SignalSource, { signals: Stream.empty })

/**
 * Adapts an outside source: each element of `stream` is delivered to the store by a worker started
 * with `withSignals()`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const fromStream = <E, R>(stream: Stream.Stream<Signal, E, R>): Layer.Layer<SignalSource, never, R> =>
  Layer.effect(
    SignalSource,
    Effect.map(Effect.context<R>(), (context) => ({
      signals: stream.pipe(
        Stream.catchAllCause((cause) => Stream.fromEffect(Effect.logError("ergon.signals", { event: "source-failed", cause })).pipe(Stream.drain)),
        Stream.provideContext(context)
      )
    }))
  )

/**
 * A source fed by recorded signals (for tests and replays of what happened elsewhere).
 *
 * @since 0.1.0
 * @category Layers
 */
export const fromIterable = (signals: Iterable<Signal>): Layer.Layer<SignalSource> => fromStream(Stream.fromIterable(signals))

/**
 * An in-memory source for tests: `offer` pushes a signal that a worker with `withSignals()` delivers.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeMemory: Effect.Effect<{
  readonly offer: (signal: Signal) => Effect.Effect<void>
  readonly layer: Layer.Layer<SignalSource>
}> = Effect.map(Queue.unbounded<Signal>(), (queue) => ({
  offer: (signal) => Queue.offer(queue, signal),
  layer: Layer.succeed(SignalSource, { signals: Stream.fromQueue(queue) })
}))

/**
 * Delivers one signal to the store (what `withSignals()` does with each outside signal).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const deliver = (
  signal: Signal
): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog> =>
  client.signal(signal.flowId, signal.name, signal.payload, signal.schema)

/**
 * Reads the source and delivers every signal, reporting those that cannot be delivered. Runs until
 * interrupted (used by workers with `withSignals()`).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const run: Effect.Effect<void, never, SignalSource | ExecutionLog> = Effect.flatMap(SignalSource, (source) =>
  Stream.runForEach(source.signals, (signal) =>
    deliver(signal).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("ergon.signals", {
          event: "undeliverable",
          flowId: signal.flowId,
          name: signal.name,
          error: error._tag,
          message: error.message
        })
      )
    )))
