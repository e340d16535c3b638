/**
 * The journal primitive: every durable operation (steps, timers, signals, children, recorded
 * values, DAG nodes) goes through these few functions.
 *
 * - `begin` gives the operation its key and its place in its scope, checks both against the
 *   journal (`NonDeterminismError` when the code calls something else than what was recorded
 *   there), and returns what is recorded at that key;
 * - `replay` returns a recorded result, in the order results were first completed;
 * - `complete` encodes and writes an operation's result; `declare` writes a wait's parameters;
 * - `park` waits, in memory, for the run's supervisor to resolve a durable wait.
 *
 * The Schema boundary is here too: `decode` and `encode` raise `CheckpointDecodeError` and
 * `CheckpointEncodeError` naming the flow, the key and the schema, in this one place.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { EntryKind, ExecutionLog, StepStatus } from "../ExecutionLog.js"
import {
  CheckpointDecodeError,
  CheckpointEncodeError,
  FlowDefinitionError,
  JournalLimitError,
  LeaseLostError,
  NonDeterminismError,
  StoreError
} from "../FlowError.js"
import { canonicalJson } from "./hash.js"
import * as json from "./json.js"
import * as telemetry from "./telemetry.js"
import {
  abort,
  abortWith,
  currentScope,
  FlowInstance,
  halted,
  nextPlace,
  type Place,
  type Resolution,
  type Wait
} from "./instance.js"

// ---------------------------------------------------------------------------------------------
// Codecs, compiled once per schema
// ---------------------------------------------------------------------------------------------

/** An exit codec: encode and decode compiled once, plus a description for error messages. */
export interface ExitCodec<A, E> {
  readonly description: string
  // Methods (not function properties), so codecs of specific types are assignable to `ExitCodec<any, any>`.
  encode(exit: Exit.Exit<A, E>): Either.Either<unknown, ParseResult.ParseError>
  decode(encoded: unknown): Either.Either<Exit.Exit<A, E>, ParseResult.ParseError>
}

export const exitCodec = <A, AI, E, EI>(
  success: Schema.Schema<A, AI>,
  failure: Schema.Schema<E, EI>
): ExitCodec<A, E> => {
  const schema = Schema.Exit({ success, failure, defect: Schema.Defect })
  return {
    description: `Exit<${String(success.ast)}, ${String(failure.ast)}>`,
    encode: Schema.encodeEither(schema) as ExitCodec<A, E>["encode"],
    decode: Schema.decodeUnknownEither(schema) as ExitCodec<A, E>["decode"]
  }
}

export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.TreeFormatter.formatErrorSync(error)

/** Decodes a recorded value, or stops the run with a `CheckpointDecodeError` naming flow, key and schema. */
export const decode = <A>(
  instance: FlowInstance.Service,
  key: string,
  description: string,
  decoder: (encoded: unknown) => Either.Either<A, ParseResult.ParseError>,
  encoded: unknown
): Effect.Effect<A> => {
  const decoded = decoder(encoded)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right)
    : abortWith(
      instance,
      new CheckpointDecodeError({
        flowType: instance.flowType,
        flowId: instance.flowId,
        key,
        schema: description,
        detail: formatParseError(decoded.left)
      })
    )
}

/** Encodes a value to record, or stops the run with a `CheckpointEncodeError`. */
export const encode = <A>(
  instance: FlowInstance.Service,
  key: string,
  description: string,
  encoder: (value: A) => Either.Either<unknown, ParseResult.ParseError>,
  value: A
): Effect.Effect<unknown> => {
  const encoded = encoder(value)
  return Either.isRight(encoded)
    ? Effect.succeed(encoded.right)
    : abortWith(
      instance,
      new CheckpointEncodeError({
        flowType: instance.flowType,
        flowId: instance.flowId,
        key,
        schema: description,
        detail: formatParseError(encoded.left)
      })
    )
}

/** Decodes a recorded exit with `codec`. */
export const decodeExit = <A, E>(
  instance: FlowInstance.Service,
  key: string,
  codec: ExitCodec<A, E>,
  encoded: unknown
): Effect.Effect<Exit.Exit<A, E>> => decode(instance, key, codec.description, (u) => codec.decode(u), encoded)

/** Encodes an exit with `codec`. */
export const encodeExit = <A, E>(
  instance: FlowInstance.Service,
  key: string,
  codec: ExitCodec<A, E>,
  exit: Exit.Exit<A, E>
): Effect.Effect<unknown> => encode(instance, key, codec.description, (e: Exit.Exit<A, E>) => codec.encode(e), exit)

// ---------------------------------------------------------------------------------------------
// The current step
// ---------------------------------------------------------------------------------------------

/**
 * What a step's `run` knows about itself.
 *
 * @since 0.1.0
 * @category Services
 */
export class StepContext extends Context.Tag("ergon/Step/Current")<StepContext, {
  readonly flowId: string
  readonly flowType: string
  /** The step's key in the flow's journal. */
  readonly key: string
  /** The attempt being made, from 1. */
  readonly attempt: number
  /** A key stable across attempts and replays: the flow id and the step key. */
  readonly idempotencyKey: string
}>() {}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/** Emits an engine event as a debug log: `ergon.step`, then the details. */
export const event = (
  instance: FlowInstance.Service,
  kind: "ran" | "replayed" | "retrying" | "failed" | "suspended",
  key: string,
  details?: Record<string, unknown>
): Effect.Effect<void> =>
  Effect.logDebug("ergon.step", { event: kind, flowId: instance.flowId, flowType: instance.flowType, key, ...details })

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/**
 * Marks `effect` as work in progress: while it runs the flow is not idle, so the supervisor does
 * not suspend it (a step that finishes wins over a wait that has not). It runs on the process's
 * clock: a step's own sleeps and timeouts, and a store client's, are not durable timers (the
 * flow's are). With `step`, it is a step's `run`, and sees its `StepContext`.
 *
 * One uninterruptible region that switches the fiber's services (and context) and puts them back
 * however `effect` ends, rather than `ensuring`, `withClock` and `provideService` nested: each of
 * those is a region of its own, and this runs twice per step (its run, its checkpoint).
 */
export const busy = <A, E, R>(
  instance: FlowInstance.Service,
  effect: Effect.Effect<A, E, R>,
  step?: Context.Tag.Service<typeof StepContext> | undefined
): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const state = switchState(fiber, instance.clock, step === undefined ? undefined : [StepContext, step])
      instance.busy++
      instance.progress++
      return Effect.flatMap(Effect.exit(Effect.zipRight(state.enter, restore(effect))), (exit) => {
        idleAgain(instance)
        return Effect.zipRight(state.leave, exit)
      })
    })
  )

/**
 * Switches a fiber to `clock` (and adds `service` to its context), and what puts both back: the
 * engine's cheap way in and out of a region (a step's run or checkpoint, the fork of a flow's
 * program), instead of a `withClock` and a `provideService` region each. The caller keeps the
 * switch and its way back within one uninterruptible stretch.
 */
export const switchState = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  clock: Clock.Clock,
  service: readonly [tag: Context.Tag<any, any>, value: unknown] | undefined
): { readonly enter: Effect.Effect<void>; readonly leave: Effect.Effect<void> } => {
  const services = fiber.getFiberRef(DefaultServices.currentServices)
  const onClock = FiberRef.set(DefaultServices.currentServices, Context.add(services, Clock.Clock, clock))
  const servicesBack = FiberRef.set(DefaultServices.currentServices, services)
  if (service === undefined) return { enter: onClock, leave: servicesBack }
  const context = fiber.getFiberRef(FiberRef.currentContext)
  return {
    enter: Effect.zipRight(onClock, FiberRef.set(FiberRef.currentContext, Context.add(context, service[0], service[1]))),
    leave: Effect.zipRight(FiberRef.set(FiberRef.currentContext, context), servicesBack)
  }
}

/** `busy`, named for user code run by the engine (a step's `run`, an in-process child). */
export const busyOnProcessClock = busy

/** An operation ended: the supervisor looks again, when it has waits to decide on. */
const idleAgain = (instance: FlowInstance.Service): void => {
  instance.busy--
  instance.progress++
  if (instance.busy === 0 && (instance.waits.size > 0 || instance.replayWaiting.size > 0)) instance.poke()
}

/**
 * Stops here when the run is stopping: nothing more is written, nothing more is run. While the
 * supervisor is deciding whether to suspend, waits for its decision.
 */
const stopped = (instance: FlowInstance.Service): Effect.Effect<void> =>
  Effect.suspend(() =>
    instance.abort !== undefined
      ? halted
      : instance.gate !== undefined
      ? Effect.zipRight(instance.gate, stopped(instance))
      : Effect.void
  )

// ---------------------------------------------------------------------------------------------
// Beginning an operation
// ---------------------------------------------------------------------------------------------

/** An operation that has its key and its place, and what the journal has at its key. */
export interface Begun extends Place {
  readonly recorded: ExecutionLog.StepRecord | undefined
}

const describeEntry = (kind: EntryKind | undefined, key: string): string =>
  kind === undefined ? `'${key}'` : `${kind === "value" ? "recorded value" : kind === "dag" ? "DAG node" : kind} '${key}'`

const nonDeterminism = (
  instance: FlowInstance.Service,
  key: string,
  fields: {
    readonly reason: "order" | "kind" | "input"
    readonly recorded: string
    readonly current: string
    readonly detail: string
    readonly recordedHash?: string | undefined
    readonly currentHash?: string | undefined
    readonly patch?: string | undefined
  }
): Effect.Effect<never> =>
  abortWith(instance, new NonDeterminismError({ flowType: instance.flowType, flowId: instance.flowId, key, ...fields }))

const changeAdvice =
  "The flow's code changed under executions already in flight: guard the change with a patch (declare an id in " +
  "the flow's `patches` and branch on `Flow.patched(id)` there: new executions take the new path, executions " +
  "recorded before take the old one), or deploy it as a new version of the flow (`versions`); see docs/versioning.md."

/**
 * What to do about a step-order mismatch at `place`: when this run took the old path at a patch
 * point of the same scope before it, that patch is the one that would have guarded the change
 * (the old path calls something else than it used to, or the patch was deprecated while
 * executions that passed it before it existed still run); otherwise, guard the change with one.
 */
const orderAdvice = (
  instance: FlowInstance.Service,
  place: Place
): { readonly detail: string; readonly patch?: string | undefined } => {
  let point: FlowInstance.Service["unpatched"][number] | undefined
  for (const candidate of instance.unpatched) {
    if (candidate.scope === place.scope && candidate.position <= place.position) point = candidate
  }
  if (point === undefined) return { detail: changeAdvice }
  return point.deprecated
    ? {
      patch: point.id,
      detail: `This execution passed patch '${point.id}' before the patch existed, and Flow.deprecatePatch('${point.id}') ` +
        `no longer keeps its old path: put back Flow.patched('${point.id}') and its old path until every execution ` +
        `started before the patch has ended (see docs/versioning.md, the patch lifecycle).`
    }
    : {
      patch: point.id,
      detail: `Flow.patched('${point.id}') answered false here (this execution passed that point before the patch ` +
        `existed), so the code run for false must call what the old code called; the change is not guarded by ` +
        `patch '${point.id}': move it under Flow.patched('${point.id}') (see docs/versioning.md).`
    }
}

/**
 * Begins a durable operation: its key (`name`, `name#2`, … in the current scope, or `key` when
 * given) and its place, checked against the journal. At a place where the journal recorded
 * something else (another name, another kind), and the operation is not recorded elsewhere
 * (concurrent branches may reach their places in another order), the run stops with a
 * `NonDeterminismError`. An operation past the journal's recorded end is the flow going on.
 */
export const begin = (
  instance: FlowInstance.Service,
  name: string,
  kind: EntryKind,
  key?: string | undefined
): Effect.Effect<Begun> =>
  Effect.suspend(() =>
    instance.abort === undefined && instance.gate === undefined
      ? place(instance, name, kind, key)
      : Effect.zipRight(stopped(instance), place(instance, name, kind, key))
  )

const place = (
  instance: FlowInstance.Service,
  name: string,
  kind: EntryKind,
  key: string | undefined
): Effect.Effect<Begun> =>
  Effect.flatMap(nextPlace(instance, name, kind), (allocated): Effect.Effect<Begun> => {
    const place: Place = key === undefined ? allocated : { ...allocated, key }
    const recorded = instance.journal.get(place.key)
    if (recorded !== undefined) {
      if (recorded.kind !== undefined && recorded.kind !== kind) {
        return nonDeterminism(instance, place.key, {
          reason: "kind",
          recorded: describeEntry(recorded.kind, place.key),
          current: describeEntry(kind, place.key),
          detail: changeAdvice
        })
      }
      // A cancelled run goes no further than what is done: no new attempt, no wait.
      if (instance.cancelling === true && recorded.status !== "completed") return abort(instance, { _tag: "Cancel" })
      return Effect.succeed<Begun>({ ...place, recorded })
    }
    // A cancelled run's replay reached what it had not done yet: the flow is cancelled here.
    if (instance.cancelling === true) return abort(instance, { _tag: "Cancel" })
    const limit = instance.maxJournalEntries
    if (limit !== undefined && instance.journal.size >= limit) {
      return abortWith(
        instance,
        new JournalLimitError({ flowType: instance.flowType, flowId: instance.flowId, limit })
      )
    }
    const there = instance.placed.get(place.scope)?.get(place.position)
    if (there !== undefined && there.key !== place.key) {
      const advice = orderAdvice(instance, place)
      return nonDeterminism(instance, place.key, {
        reason: "order",
        recorded: describeEntry(there.kind, there.key),
        current: describeEntry(kind, place.key),
        patch: advice.patch,
        detail: `Operation ${place.position} of ${
          place.scope === "" ? "the flow" : `scope '${place.scope}'`
        } was recorded as ${describeEntry(there.kind, there.key)}. ${advice.detail}`
      })
    }
    return Effect.succeed<Begun>({ ...place, recorded: undefined })
  })

/** The most of a step's encoded input kept in its entry (to say what changed on a mismatch). */
const KEPT_INPUT_CHARS = 1024

/** A step input: its hash, and the encoded value when it is small enough to keep. */
export interface HashedInput {
  readonly hash: string
  readonly kept: unknown | undefined
}

export const keptInput = (encoded: unknown, canonical: string): unknown | undefined =>
  canonical.length <= KEPT_INPUT_CHARS ? encoded : undefined

const short = (value: unknown): string | undefined => {
  const text = canonicalJson(value)
  return text.length <= 80 ? text : undefined
}

/** Which fields differ between a recorded input and the current one, as far as what was kept tells. */
const inputDiff = (recorded: unknown, current: unknown): string => {
  const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
  if (isRecord(recorded) && isRecord(current)) {
    const fields = Array.from(new Set([...Object.keys(recorded), ...Object.keys(current)])).sort()
    const changed = fields.filter((field) => canonicalJson(recorded[field]) !== canonicalJson(current[field]))
    if (changed.length > 0) {
      return `Fields that differ: ${
        changed.map((field) => {
          const was = short(recorded[field])
          const now = short(current[field])
          return was !== undefined && now !== undefined ? `${field} (${was} → ${now})` : field
        }).join(", ")
      }.`
    }
  }
  const was = short(recorded)
  const now = short(current)
  return was !== undefined && now !== undefined ? `Recorded input ${was}, now ${now}.` : ""
}

/** Checks a step's input against the one recorded at its key. */
export const checkInput = (
  instance: FlowInstance.Service,
  begun: Begun,
  input: HashedInput,
  currentEncoded: unknown
): Effect.Effect<void> => {
  const recorded = begun.recorded
  if (recorded === undefined || recorded.inputHash === null || recorded.inputHash === input.hash) return Effect.void
  const diff = recorded.input !== undefined ? inputDiff(recorded.input, currentEncoded) : ""
  return nonDeterminism(instance, begun.key, {
    reason: "input",
    recorded: `step '${begun.key}' with input hash ${recorded.inputHash}`,
    current: `step '${begun.key}' with input hash ${input.hash}`,
    recordedHash: recorded.inputHash,
    currentHash: input.hash,
    detail: `${diff === "" ? "" : `${diff} `}${changeAdvice}`
  })
}

// ---------------------------------------------------------------------------------------------
// Replaying
// ---------------------------------------------------------------------------------------------

/** Marks a recorded completion as returned, and lets the next ones in order go. */
const consume = (instance: FlowInstance.Service, seq: number): void => {
  const order = instance.replayOrder
  const at = order.indexOf(seq)
  if (at >= 0) order.splice(at, 1)
  releaseInOrder(instance)
}

/** Lets go the replayed results whose turn has come. */
export const releaseInOrder = (instance: FlowInstance.Service): void => {
  const order = instance.replayOrder
  while (order.length > 0) {
    const go = instance.replayWaiting.get(order[0]!)
    if (go === undefined) return
    instance.replayWaiting.delete(order[0]!)
    order.shift()
    go()
  }
}

/**
 * Skips the recorded completions that no branch of this run has asked for (a race's loser, a
 * branch not taken again): called by the supervisor once the run is idle, so the results waiting
 * behind them go on.
 */
export const skipUnclaimed = (instance: FlowInstance.Service): boolean => {
  if (instance.replayWaiting.size === 0) return false
  const first = Math.min(...instance.replayWaiting.keys())
  const order = instance.replayOrder
  while (order.length > 0 && order[0]! < first) order.shift()
  releaseInOrder(instance)
  return true
}

/**
 * Waits for a recorded entry's turn: results are returned in the order they were completed, so
 * concurrent branches see what they saw the first time (the same race winner, whatever order
 * they are replayed in).
 */
export const inTurn = (instance: FlowInstance.Service, recorded: ExecutionLog.StepRecord): Effect.Effect<void> => {
  const seq = recorded.seq
  if (seq === undefined) return Effect.void
  return Effect.suspend(() => {
    // Its turn already (the common case, replaying one entry after another): no wait at all.
    const order = instance.replayOrder
    if (order.length === 0 || order[0] === seq) {
      consume(instance, seq)
      return Effect.void
    }
    return waitForTurn(instance, seq)
  })
}

const waitForTurn = (instance: FlowInstance.Service, seq: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const order = instance.replayOrder
    if (order.length === 0 || order[0] === seq || !order.includes(seq)) {
      consume(instance, seq)
      return resume(Effect.void)
    }
    instance.replayWaiting.set(seq, () => resume(Effect.void))
    instance.progress++
    instance.poke()
    return Effect.sync(() => {
      instance.replayWaiting.delete(seq)
      instance.poke()
    })
  })

/** Returns a recorded exit, in its turn. */
export const replay = <A, E>(
  instance: FlowInstance.Service,
  begun: Begun & { readonly recorded: ExecutionLog.StepRecord },
  codec: ExitCodec<A, E>
): Effect.Effect<Exit.Exit<A, E>> =>
  Effect.zipRight(inTurn(instance, begun.recorded), decodeExit(instance, begun.key, codec, begun.recorded.exit))

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** The fields of an entry that its operation decides. */
export interface EntryFields {
  readonly inputHash: string | null
  readonly status: StepStatus
  readonly exit: unknown
  readonly attempts: number
  readonly nextAttemptAt: number | null
  readonly startedAt: number | null
  readonly completedAt: number | null
  readonly input?: unknown | undefined
}

const entryOf = (instance: FlowInstance.Service, place: Place, fields: EntryFields, seq: number | undefined): ExecutionLog.StepRecord => {
  const { input, ...rest } = fields
  const record: ExecutionLog.StepRecord = {
    flowId: instance.flowId,
    key: place.key,
    ...rest,
    kind: place.kind,
    scope: place.scope,
    position: place.position,
    ...(seq === undefined ? {} : { seq })
  }
  return input === undefined ? record : { ...record, input }
}

const remember = (instance: FlowInstance.Service, record: ExecutionLog.StepRecord): void => {
  instance.journal.set(record.key, record)
  if (record.scope !== undefined && record.position !== undefined) {
    let byPosition = instance.placed.get(record.scope)
    if (byPosition === undefined) {
      byPosition = new Map()
      instance.placed.set(record.scope, byPosition)
    }
    byPosition.set(record.position, record)
  }
}

/** Indexes a loaded journal: by key, and by scope and place. */
export const indexJournal = (instance: FlowInstance.Service, steps: ReadonlyArray<ExecutionLog.StepRecord>): void => {
  let maxSeq = 0
  const order: Array<number> = []
  for (const step of steps) {
    remember(instance, step)
    if (step.seq !== undefined && step.status === "completed") {
      order.push(step.seq)
      if (step.seq > maxSeq) maxSeq = step.seq
    }
  }
  order.sort((a, b) => a - b)
  instance.replayOrder.push(...order)
  instance.nextSeq = maxSeq + 1
}

/**
 * Writes one journal entry (one statement), unless the run is stopping. If the store refuses it,
 * finds out why: a lost lease stops the run; an entry completed meanwhile by another executor of
 * the same flow is returned, and the caller must use it instead of its own.
 */
const write = (instance: FlowInstance.Service, record: ExecutionLog.StepRecord): Effect.Effect<ExecutionLog.StepRecord> =>
  Effect.suspend(() =>
    instance.abort === undefined && instance.gate === undefined
      ? writeNow(instance, record)
      : Effect.zipRight(stopped(instance), writeNow(instance, record))
  )

const writeNow = (instance: FlowInstance.Service, record: ExecutionLog.StepRecord): Effect.Effect<ExecutionLog.StepRecord> =>
  busy(
    instance,
    instance.log.putStep(record, instance.fence).pipe(
      Effect.flatMap((written) => {
        if (written) {
          remember(instance, record)
          return Effect.succeed(record)
        }
        return Effect.flatMap(instance.log.loadFlow(instance.flowId), (loaded) => {
          if (Option.isNone(loaded)) {
            return abortWith(
              instance,
              new StoreError({ operation: "putStep", detail: `flow '${instance.flowId}' is no longer in the store` })
            )
          }
          const { flow, steps } = loaded.value
          const fence = instance.fence
          if (fence !== undefined && (flow.leaseOwner !== fence.owner || flow.leaseEpoch !== fence.epoch)) {
            return abortWith(instance, new LeaseLostError({ flowId: instance.flowId, ...fence }))
          }
          const stored = steps.find((step) => step.key === record.key)
          if (stored === undefined || stored.status !== "completed") {
            return abortWith(
              instance,
              new StoreError({ operation: "putStep", detail: `the store refused the entry '${record.key}'` })
            )
          }
          remember(instance, stored)
          return Effect.succeed(stored)
        })
      }),
      // A value or key the store refuses can never be written: the run stops with that typed
      // error and the flow is failed with it, once, instead of being taken up again at every lease.
      Effect.catchTag("StoreError", (error) => abortWith(instance, json.refusedValue(error) ?? error))
    )
  )

/**
 * Records an operation's final result (an encoded exit, or the record of a timer that fired),
 * with the next completion order. Returns the entry stored: another executor's, when it completed
 * the same entry first.
 */
export const complete = (
  instance: FlowInstance.Service,
  place: Place,
  fields: Omit<EntryFields, "status" | "nextAttemptAt">
): Effect.Effect<ExecutionLog.StepRecord> =>
  Effect.suspend(() =>
    write(instance, entryOf(instance, place, { ...fields, status: "completed", nextAttemptAt: null }, instance.nextSeq++))
  )

/**
 * Records an entry that the flow's program never reads back (a DAG node's timing): completed,
 * but outside the order in which replay returns results.
 */
export const note = (
  instance: FlowInstance.Service,
  place: Place,
  fields: Omit<EntryFields, "status" | "nextAttemptAt">
): Effect.Effect<void> =>
  Effect.asVoid(write(instance, entryOf(instance, place, { ...fields, status: "completed", nextAttemptAt: null }, undefined)))

/**
 * Records a marker under `key` once (nothing when the journal has it): an entry that takes no place
 * among the flow's operations (no scope, no position, no completion order), so that neither the
 * step-order check nor the order of replayed results sees it. The store reads it (`$compensable`).
 */
export const mark = (instance: FlowInstance.Service, key: string, kind: EntryKind): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (instance.journal.has(key)) return Effect.void
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.asVoid(write(instance, {
        flowId: instance.flowId,
        key,
        kind,
        inputHash: null,
        status: "completed",
        exit: null,
        attempts: 1,
        nextAttemptAt: null,
        startedAt: now,
        completedAt: now
      })))
  })

const WaitDeadline = Schema.Struct({ timeoutAt: Schema.NullOr(Schema.Number) })
const decodeWaitDeadline = Schema.decodeUnknownEither(WaitDeadline)

/**
 * The deadline of a wait with an optional timeout (a signal's, an event's): read from its entry
 * when it is recorded as waiting, otherwise fixed now (`now + timeout`) and recorded, so a resume
 * does not restart it. `null` when there is none.
 */
export const waitDeadline = (
  instance: FlowInstance.Service,
  begun: Begun,
  timeout: Duration.DurationInput | undefined,
  now: number
): Effect.Effect<number | null> => {
  const recorded = begun.recorded
  if (recorded?.status === "waiting") {
    return Effect.map(
      decode(instance, begun.key, String(WaitDeadline.ast), decodeWaitDeadline, recorded.exit),
      (wait) => wait.timeoutAt
    )
  }
  if (timeout === undefined) return Effect.succeed(null)
  const timeoutAt = now + Duration.toMillis(timeout)
  return Effect.as(
    declare(instance, begun, {
      inputHash: null,
      status: "waiting",
      exit: { timeoutAt },
      attempts: 0,
      nextAttemptAt: timeoutAt,
      startedAt: now,
      completedAt: null
    }),
    timeoutAt
  )
}

/** Records that an operation waits (a timer's fire time, a signal's deadline) or will retry. */
export const declare = (
  instance: FlowInstance.Service,
  place: Place,
  fields: EntryFields & { readonly status: "waiting" | "retrying" }
): Effect.Effect<void> => Effect.asVoid(write(instance, entryOf(instance, place, fields, undefined)))

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

/**
 * Parks a durable wait: the calling branch waits in memory until the run's supervisor resolves
 * it (its time came, or the store has what it waits for), then runs `then` (which records the
 * outcome). When every live branch of the flow is parked, the supervisor suspends the flow on all
 * of them at once, and the run stops. A branch interrupted meanwhile (a race's loser) takes its
 * wait away. The supervisor resolves one wait at a time and lets the flow react (a race settle,
 * its losers go) before it resolves the next, as time would.
 */
export const park = <A>(
  instance: FlowInstance.Service,
  wait: Omit<Wait, "resolve">,
  then: (resolution: Resolution) => Effect.Effect<A>
): Effect.Effect<A> =>
  telemetry.parked(instance, wait, Effect.zipRight(
    stopped(instance),
    Effect.suspend(() => {
      // A cancelled run's replay reached a wait: the flow is cancelled here.
      if (instance.cancelling === true) return abort(instance, { _tag: "Cancel" })
      // Resolved by the supervisor: counted in `resolving` until its outcome is recorded, or
      // until the branch is interrupted before it could record it (a race's loser).
      let resolved = false
      const settled = () => {
        if (!resolved) return
        resolved = false
        instance.resolving--
        instance.progress++
        instance.poke()
      }
      return Effect.async<Resolution>((resume) => {
        const parked: Wait = {
          ...wait,
          resolve: (resolution) => {
            if (instance.waits.get(wait.key) !== parked) return
            instance.waits.delete(wait.key)
            resolved = true
            instance.resolving++
            instance.progress++
            resume(Effect.succeed(resolution))
          }
        }
        instance.waits.set(wait.key, parked)
        instance.waitsChanged++
        instance.progress++
        instance.poke()
        return Effect.sync(() => {
          if (instance.waits.get(wait.key) === parked) instance.waits.delete(wait.key)
          instance.progress++
          instance.poke()
        })
      }).pipe(
        Effect.flatMap((resolution) => Effect.ensuring(then(resolution), Effect.sync(settled))),
        Effect.onInterrupt(() => Effect.sync(settled))
      )
    })
  ))

// ---------------------------------------------------------------------------------------------
// Patches
// ---------------------------------------------------------------------------------------------

/**
 * Decides a patch point (`Flow.patched(id)`, `Flow.deprecatePatch(id)`): `true` when this
 * execution reaches it under code that has the patch, `false` when it is a replay of an execution
 * that passed it before the patch existed.
 *
 * The answer is recorded so that it is stable: a `true` writes a marker entry at the key
 * `$patch/<id>` (with an occurrence counter, in the current scope). The marker takes no place
 * among the scope's operations, so the code around it keeps the places it had without the patch
 * (and removing the call once the patch is retired changes nothing). Then, at a patch point:
 * - its marker is in the journal: `true` (it was decided so);
 * - no marker, and the journal has an operation of this scope at the place the next operation
 *   would take or later: the execution went past this point before the patch, `false` (nothing is
 *   written: on every replay the same entries are there, so the answer is the same);
 * - no marker, and nothing recorded from here on: the execution reaches this point for the first
 *   time, under the patch: the marker is written, `true`.
 */
export const patchPoint = (id: string, deprecated: boolean): Effect.Effect<boolean, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    // Undeclared ids are compile errors; one that a cast got past the types is a defect, at once.
    !instance.patches.includes(id)
      ? Effect.die(
        new FlowDefinitionError({
          name: instance.flowType,
          detail: `it uses patch '${id}', which it does not declare; add '${id}' to its patches`
        })
      )
      : Effect.zipRight(
      stopped(instance),
      Effect.flatMap(FiberRef.get(currentScope), (scope) => {
        const name = `$patch/${id}`
        const base = scope === "" ? name : `${scope}/${name}`
        const n = (instance.counters.get(base) ?? 0) + 1
        // The occurrence is taken whatever the answer, so each patch point keeps its own key.
        instance.counters.set(base, n)
        const key = n === 1 ? base : `${base}#${n}`
        if (instance.journal.has(key)) return Effect.succeed(true)
        const position = (instance.positions.get(scope) ?? 0) + 1
        const placed = instance.placed.get(scope)
        let passed = false
        if (placed !== undefined) {
          for (const at of placed.keys()) {
            if (at >= position) {
              passed = true
              break
            }
          }
        }
        if (passed) {
          instance.unpatched.push({ id, scope, position, deprecated })
          return Effect.succeed(false)
        }
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.as(
            write(instance, {
              flowId: instance.flowId,
              key,
              inputHash: null,
              status: "completed",
              exit: { patch: id },
              attempts: 1,
              nextAttemptAt: null,
              startedAt: now,
              completedAt: now,
              kind: "patch",
              scope
            }),
            true
          ))
      })
    ))

// ---------------------------------------------------------------------------------------------
// Recorded values
// ---------------------------------------------------------------------------------------------

/** Computes a value once, records it, and replays it after: `Flow.now`, `Flow.random`, `Flow.uuid`. */
export const recordValue = <A>(
  name: string,
  codec: ExitCodec<A, never>,
  compute: Effect.Effect<A>
): Effect.Effect<A, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(begin(instance, name, "value"), (begun) => {
      const recorded = begun.recorded
      if (recorded !== undefined && recorded.status === "completed") {
        return Effect.flatMap(replay(instance, { ...begun, recorded }, codec), (exit) => exit)
      }
      return Effect.gen(function*() {
        const value = yield* compute
        const now = yield* Clock.currentTimeMillis
        const encoded = yield* encodeExit(instance, begun.key, codec, Exit.succeed(value))
        const stored = yield* complete(instance, begun, {
          inputHash: null,
          exit: encoded,
          attempts: 1,
          startedAt: now,
          completedAt: now
        })
        if (stored.exit === encoded) return value
        return yield* Effect.flatMap(decodeExit(instance, begun.key, codec, stored.exit), (exit) => exit)
      })
    }))
