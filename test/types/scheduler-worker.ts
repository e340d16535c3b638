/**
 * Type tests for the versioning typestate of `Scheduler` and `Worker`, checked by `tsc --noEmit`
 * (`npm run typecheck`); nothing here runs.
 *
 * Positive cases assert exact types (`toEqualTypeOf`), so a state, an error channel or a
 * requirement set that collapsed to `any`, `never` or `unknown` fails. Each misuse is one line
 * under `// @ts-expect-error <text>`, and `test/types/messages.test.ts` checks that tsc's
 * diagnostic for that line contains `<text>`: a misuse that stops being an error, or that fails
 * for another reason, fails the tests.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import type { ExecutionLog } from "../../src/ExecutionLog.js"
import * as Flow from "../../src/Flow.js"
import type {
  CheckpointDecodeError,
  FlowCancelledError,
  FlowConflictError,
  FlowFailedError,
  FlowNotFoundError,
  InvalidIdError,
  InvalidInputError,
  InvalidOptionError,
  InvalidVersionError,
  NoFlowsRegisteredError,
  StoreError,
  UnstorableValueError,
  VersionMismatchError
} from "../../src/FlowError.js"
import { version } from "../../src/PackageVersion.js"
import * as Scheduler from "../../src/Scheduler.js"
import type * as Version from "../../src/Version.js"
import * as Worker from "../../src/Worker.js"

class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { reason: Schema.String }) {}
class ServiceA extends Context.Tag("test/ServiceA")<ServiceA, { readonly a: number }>() {}
class ServiceB extends Context.Tag("test/ServiceB")<ServiceB, { readonly b: string }>() {}

declare const someString: string
declare const canary: boolean

/** Not pinned: any scheduler or worker may take it. */
const Plain = Flow.make("plain", {
  input: Schema.Number,
  success: Schema.String,
  error: Rejected,
  run: (n) => (n < 0 ? Effect.fail(new Rejected({ reason: "negative" })) : Effect.succeed(String(n)))
})
/** Pinned to two deployment versions. */
const Order = Flow.make("order", {
  input: Schema.Struct({ id: Schema.String }),
  success: Schema.Number,
  versions: ["1.3.0", "1.4.0"],
  run: () => Effect.succeed(1)
})
/** Pinned to a version older than the package's (`PackageVersion.version` is "0.1.0"). */
const Legacy = Flow.make("legacy", { input: Schema.Void, versions: ["0.0.9"], run: () => Effect.void })
const NeedsA = Flow.make("needs-a", { input: Schema.Void, run: () => Effect.asVoid(ServiceA) })
const NeedsB = Flow.make("needs-b", { input: Schema.Void, run: () => Effect.asVoid(ServiceB) })

const layerA = Layer.succeed(ServiceA, { a: 1 })
const layerB = Layer.succeed(ServiceB, { b: "b" })

/** What `schedule` fails with whatever the configuration. */
type ScheduleError =
  | InvalidInputError
  | FlowConflictError
  | StoreError
  | UnstorableValueError
  | InvalidIdError
  | InvalidOptionError

describe("the flows", () => {
  it("carry their pins as a union of literals, and `string` when not pinned", () => {
    expectTypeOf<Flow.Versions<typeof Order>>().toEqualTypeOf<"1.3.0" | "1.4.0">()
    expectTypeOf<Flow.Versions<typeof Plain>>().toEqualTypeOf<string>()
    expectTypeOf<Flow.Context<typeof NeedsA>>().toEqualTypeOf<ServiceA>()
  })

  it("cannot be pinned to a string known only at run time (it would pass as unpinned)", () => {
    // @ts-expect-error Type 'string' is not assignable to type 'TypeError<"ergon: a flow's versions must be version literals such as '1.4.0', not a string known only at run time; list the versions the flow was reviewed for">'.
    Flow.make("reviewed", { input: Schema.Void, versions: [someString], run: () => Effect.void })
  })
})

describe("unconfigured", () => {
  it("Scheduler.make() and Worker.make(name) start Unconfigured", () => {
    expectTypeOf(Scheduler.make()).toEqualTypeOf<Scheduler.Scheduler<Version.Unconfigured>>()
    expectTypeOf(Worker.make("w")).toEqualTypeOf<Worker.Worker<Version.Unconfigured, never>>()
  })

  it("has no schedule, run, layer or register until versioning is chosen", () => {
    // @ts-expect-error The 'this' context of type 'Scheduler<Unconfigured>' is not assignable to method's 'this' of type 'TypeError<"ergon: choose how this scheduler is versioned before scheduling: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')">'.
    Scheduler.make().schedule(Plain, 1)
    // @ts-expect-error The 'this' context of type 'Worker<Unconfigured, never, never>' is not assignable to method's 'this' of type 'TypeError<"ergon: choose how this worker is versioned first: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')">'.
    Worker.make("w").run()
    // @ts-expect-error The 'this' context of type 'Worker<Unconfigured, never, never>' is not assignable to method's 'this' of type 'TypeError<"ergon: choose how this worker is versioned first: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')">'.
    Worker.make("w").layer()
    // @ts-expect-error The 'this' context of type 'Worker<Unconfigured, never, never>' is not assignable to method's 'this' of type 'TypeError<"ergon: choose how this worker is versioned first: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')">'.
    Worker.make("w").register(Plain)
    // @ts-expect-error The 'this' context of type 'Worker<Unconfigured, never, never>' is not assignable to method's 'this' of type 'TypeError<"ergon: choose how this worker is versioned first: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')">'.
    Worker.make("w").withTimers().withConcurrency(4).run()
  })
})

describe("configuring", () => {
  it("each choice gives its state", () => {
    expectTypeOf(Scheduler.make().withVersion("1.4.0")).toEqualTypeOf<Scheduler.Scheduler<Version.Versioned<"1.4.0">>>()
    expectTypeOf(Scheduler.make().unversioned()).toEqualTypeOf<Scheduler.Scheduler<Version.Unversioned>>()
    expectTypeOf(Scheduler.make().fromEnv("DEPLOY_VERSION")).toEqualTypeOf<Scheduler.Scheduler<Version.EnvSourced>>()
    expectTypeOf(Worker.make("w").withVersion("2.0.0-rc.1")).toEqualTypeOf<
      Worker.Worker<Version.Versioned<"2.0.0-rc.1">, never>
    >()
    expectTypeOf(Worker.make("w").unversioned()).toEqualTypeOf<Worker.Worker<Version.Unversioned, never>>()
    expectTypeOf(Worker.make("w").fromEnv("DEPLOY_VERSION")).toEqualTypeOf<Worker.Worker<Version.EnvSourced, never>>()
  })

  it("the tuning methods keep the state", () => {
    expectTypeOf(Worker.make("w").withTimers().withSignals().withVersion("1.4.0").withLease("10 seconds")).toEqualTypeOf<
      Worker.Worker<Version.Versioned<"1.4.0">, never>
    >()
  })

  it("happens once", () => {
    // @ts-expect-error The 'this' context of type 'Scheduler<Versioned<"1.4.0">>' is not assignable to method's 'this' of type 'TypeError<"ergon: this scheduler is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Scheduler.make().withVersion("1.4.0").unversioned()
    // @ts-expect-error The 'this' context of type 'Scheduler<Unversioned>' is not assignable to method's 'this' of type 'TypeError<"ergon: this scheduler is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Scheduler.make().unversioned().withVersion("1.4.0")
    // @ts-expect-error The 'this' context of type 'Scheduler<EnvSourced>' is not assignable to method's 'this' of type 'TypeError<"ergon: this scheduler is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Scheduler.make().fromEnv("X").withVersion("1.4.0")
    // @ts-expect-error The 'this' context of type 'Scheduler<Versioned<"1.4.0">>' is not assignable to method's 'this' of type 'TypeError<"ergon: this scheduler is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Scheduler.make().withVersion("1.4.0").withVersion("1.5.0")
    // @ts-expect-error The 'this' context of type 'Worker<Versioned<"1.4.0">, never, never>' is not assignable to method's 'this' of type 'TypeError<"ergon: this worker is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Worker.make("w").withVersion("1.4.0").unversioned()
    // @ts-expect-error The 'this' context of type 'Worker<Unversioned, never, never>' is not assignable to method's 'this' of type 'TypeError<"ergon: this worker is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Worker.make("w").unversioned().fromEnv("X")
    // @ts-expect-error The 'this' context of type 'Worker<EnvSourced, ServiceA, "needs-a">' is not assignable to method's 'this' of type 'TypeError<"ergon: this worker is already versioned; choose one of withVersion, unversioned or fromEnv, once">'.
    Worker.make("w").fromEnv("X").register(NeedsA).withVersion("1.4.0")
  })

  it("withVersion takes one version: a union is refused, so the pin check cannot pass on one member", () => {
    // @ts-expect-error TypeError<"ergon: withVersion takes one version, not a union of versions; choose one, or use fromEnv for a version chosen at run time">
    Scheduler.make().withVersion(canary ? "1.4.0" : "1.3.0")
    // @ts-expect-error TypeError<"ergon: withVersion takes one version, not a union of versions; choose one, or use fromEnv for a version chosen at run time">
    Worker.make("w").withVersion(canary ? "1.4.0" : "1.3.0")
  })

  it("withVersion takes only a semantic-version literal", () => {
    // @ts-expect-error Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)">'.
    Scheduler.make().withVersion("1.4")
    // @ts-expect-error Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: 'banana' is not a semantic version (MAJOR.MINOR.PATCH)">'.
    Scheduler.make().withVersion("banana")
    // @ts-expect-error Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time">'.
    Scheduler.make().withVersion(someString)
    // @ts-expect-error Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)">'.
    Worker.make("w").withVersion("1.4")
    // @ts-expect-error Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: 'banana' is not a semantic version (MAJOR.MINOR.PATCH)">'.
    Worker.make("w").withVersion("banana")
    // @ts-expect-error Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time">'.
    Worker.make("w").withVersion(someString)
  })
})

describe("pinned flows", () => {
  it("are taken by a versioned scheduler or worker of one of their versions", () => {
    const handle = Scheduler.make().withVersion("1.4.0").schedule(Order, { id: "o-1" })
    expectTypeOf(handle).toEqualTypeOf<
      Effect.Effect<Scheduler.FlowHandle<number, never>, ScheduleError, ExecutionLog>
    >()
    expectTypeOf(Scheduler.make().withVersion("1.3.0").schedule(Order, { id: "o-1" })).toEqualTypeOf<
      Effect.Effect<Scheduler.FlowHandle<number, never>, ScheduleError, ExecutionLog>
    >()
    expectTypeOf(Worker.make("w").withVersion("1.4.0").register(Order, Plain)).toEqualTypeOf<
      Worker.Worker<Version.Versioned<"1.4.0">, never, "order" | "plain">
    >()
  })

  it("are refused by a versioned scheduler or worker of another version", () => {
    // @ts-expect-error TypeError<"ergon: flow 'order' is not pinned to version '1.5.0'; add '1.5.0' to its versions once it has been reviewed for it">
    Scheduler.make().withVersion("1.5.0").schedule(Order, { id: "o-1" })
    // @ts-expect-error TypeError<"ergon: flow 'order' is not pinned to version '1.5.0'; add '1.5.0' to its versions once it has been reviewed for it">
    Worker.make("w").withVersion("1.5.0").register(Order)
    // @ts-expect-error TypeError<"ergon: flow 'order' is not pinned to version '1.5.0'; add '1.5.0' to its versions once it has been reviewed for it">
    Worker.make("w").withVersion("1.5.0").register(Plain, Order)
  })

  it("are refused by an unversioned scheduler or worker", () => {
    // @ts-expect-error TypeError<"ergon: flow 'order' is pinned to versions, so an unversioned scheduler or worker cannot take it; use withVersion">
    Scheduler.make().unversioned().schedule(Order, { id: "o-1" })
    // @ts-expect-error TypeError<"ergon: flow 'order' is pinned to versions, so an unversioned scheduler or worker cannot take it; use withVersion">
    Worker.make("w").unversioned().register(Order)
  })

  it("are checked at run time with fromEnv: the version errors are in the error channel", () => {
    const scheduled = Scheduler.make().fromEnv("DEPLOY_VERSION").schedule(Order, { id: "o-1" })
    expectTypeOf(scheduled).toEqualTypeOf<
      Effect.Effect<
        Scheduler.FlowHandle<number, never>,
        ScheduleError | InvalidVersionError | VersionMismatchError,
        ExecutionLog
      >
    >()
    expectTypeOf(Worker.make("w").fromEnv("DEPLOY_VERSION").register(Order).run()).toEqualTypeOf<
      Effect.Effect<never, StoreError | NoFlowsRegisteredError | InvalidVersionError | VersionMismatchError, ExecutionLog>
    >()
  })

  it("with withVersion or unversioned, the version errors are not in the error channel", () => {
    expectTypeOf(Scheduler.make().withVersion("1.4.0").schedule(Plain, 1)).toEqualTypeOf<
      Effect.Effect<Scheduler.FlowHandle<string, Rejected>, ScheduleError, ExecutionLog>
    >()
    expectTypeOf(Scheduler.make().unversioned().schedule(Plain, 1)).toEqualTypeOf<
      Effect.Effect<Scheduler.FlowHandle<string, Rejected>, ScheduleError, ExecutionLog>
    >()
    expectTypeOf(Worker.make("w").withVersion("1.4.0").register(Order).run()).toEqualTypeOf<
      Effect.Effect<never, StoreError | NoFlowsRegisteredError, ExecutionLog>
    >()
    expectTypeOf<Scheduler.VersionErrors<Version.Versioned<"1.4.0">>>().toEqualTypeOf<never>()
    expectTypeOf<Scheduler.VersionErrors<Version.Unversioned>>().toEqualTypeOf<never>()
  })

  it("unpinned flows are taken by every configuration", () => {
    expectTypeOf(Worker.make("w").unversioned().register(Plain)).toEqualTypeOf<
      Worker.Worker<Version.Unversioned, never, "plain">
    >()
    expectTypeOf(Worker.make("w").fromEnv("V").register(Plain, Order)).toEqualTypeOf<
      Worker.Worker<Version.EnvSourced, never, "plain" | "order">
    >()
  })
})

describe("bumping the deployment version", () => {
  it("the generated PackageVersion.version is a literal", () => {
    expectTypeOf(version).toEqualTypeOf<"0.1.0">()
    expectTypeOf(Scheduler.make().withVersion(version)).toEqualTypeOf<Scheduler.Scheduler<Version.Versioned<"0.1.0">>>()
  })

  it("lists every pinned flow not yet reviewed for the new version", () => {
    // @ts-expect-error TypeError<"ergon: flow 'legacy' is not pinned to version '0.1.0'; add '0.1.0' to its versions once it has been reviewed for it">
    Scheduler.make().withVersion(version).schedule(Legacy, undefined)
    // @ts-expect-error TypeError<"ergon: flow 'legacy' is not pinned to version '0.1.0'; add '0.1.0' to its versions once it has been reviewed for it">
    Worker.make("w").withVersion(version).register(Plain, Legacy)
  })
})

describe("registering", () => {
  /** Another definition named "plain": one of the two would silently replace the other. */
  const PlainAgain = Flow.make("plain", { input: Schema.Number, success: Schema.String, run: (n) => Effect.succeed(String(n)) })
  /** A flow whose name is not a literal: not compared. */
  const Dynamic = Flow.make(someString, { input: Schema.Void, run: () => Effect.void })

  it("refuses a flow name registered twice, in one call or across calls", () => {
    // @ts-expect-error TypeError<"ergon: flow 'plain' is registered twice on this worker; register each flow once">
    Worker.make("w").unversioned().register(Plain, PlainAgain)
    // @ts-expect-error TypeError<"ergon: flow 'plain' is registered twice on this worker; register each flow once">
    Worker.make("w").unversioned().register(Plain, NeedsA, Plain)
    // @ts-expect-error TypeError<"ergon: flow 'plain' is registered twice on this worker; register each flow once">
    Worker.make("w").unversioned().register(Plain).register(NeedsA, PlainAgain)
    // @ts-expect-error TypeError<"ergon: flow 'needs-a' is registered twice on this worker; register each flow once">
    Worker.make("w").unversioned().register(NeedsA).withTimers().register(NeedsA)
  })

  it("accepts distinct names, and does not compare names that are not literals", () => {
    expectTypeOf(Worker.make("w").unversioned().register(Plain, NeedsA).register(NeedsB)).toEqualTypeOf<
      Worker.Worker<Version.Unversioned, ServiceA | ServiceB, "plain" | "needs-a" | "needs-b">
    >()
    expectTypeOf(Worker.make("w").unversioned().register(Dynamic, Dynamic).register(Plain)).toEqualTypeOf<
      Worker.Worker<Version.Unversioned, never, "plain">
    >()
  })
})

describe("requirements", () => {
  const worker = Worker.make("w").withVersion("1.4.0").register(NeedsA, NeedsB)
  type RunError = Worker.RunError<Version.Versioned<"1.4.0">>

  it("register accumulates the flows' services in the worker's type", () => {
    expectTypeOf(worker).toEqualTypeOf<
      Worker.Worker<Version.Versioned<"1.4.0">, ServiceA | ServiceB, "needs-a" | "needs-b">
    >()
    expectTypeOf(Worker.make("w").withVersion("1.4.0").register(NeedsA).register(NeedsB, Plain)).toEqualTypeOf<
      Worker.Worker<Version.Versioned<"1.4.0">, ServiceA | ServiceB, "needs-a" | "needs-b" | "plain">
    >()
  })

  it("run and layer require every service, and the store", () => {
    expectTypeOf(worker.run()).toEqualTypeOf<Effect.Effect<never, RunError, ServiceA | ServiceB | ExecutionLog>>()
    expectTypeOf(worker.layer()).toEqualTypeOf<Layer.Layer<never, never, ServiceA | ServiceB | ExecutionLog>>()
    expectTypeOf(worker.run().pipe(Effect.provide(layerA))).toEqualTypeOf<
      Effect.Effect<never, RunError, ServiceB | ExecutionLog>
    >()
  })

  it("providing every service leaves only the store", () => {
    const program: Effect.Effect<never, RunError, ExecutionLog> = worker.run().pipe(
      Effect.provide(Layer.merge(layerA, layerB))
    )
    expectTypeOf(program).toEqualTypeOf<Effect.Effect<never, RunError, ExecutionLog>>()
  })

  it("a program that provides only some of the services does not compile", () => {
    const onlyA = worker.run().pipe(Effect.provide(layerA))
    // @ts-expect-error Type 'ServiceB' is not assignable to type 'ExecutionLog'.
    const assigned: Effect.Effect<never, RunError, ExecutionLog> = onlyA
    // @ts-expect-error Type 'ServiceB' is not assignable to type 'ExecutionLog'.
    onlyA satisfies Effect.Effect<never, RunError, ExecutionLog>
    expectTypeOf(assigned).toEqualTypeOf<Effect.Effect<never, RunError, ExecutionLog>>()
  })
})

describe("FlowHandle", () => {
  it("await succeeds and fails with the flow's types (plus the engine's errors)", () => {
    const program = Effect.flatMap(Scheduler.make().unversioned().schedule(Plain, 1), (handle) => handle.await)
    expectTypeOf(program).toEqualTypeOf<
      Effect.Effect<
        string,
        | ScheduleError
        | Rejected
        | FlowCancelledError
        | FlowFailedError
        | FlowNotFoundError
        | CheckpointDecodeError,
        ExecutionLog
      >
    >()
    expectTypeOf(Scheduler.handle(Order, "o-1").await).toEqualTypeOf<
      Effect.Effect<
        number,
        FlowCancelledError | FlowFailedError | FlowNotFoundError | CheckpointDecodeError | StoreError,
        ExecutionLog
      >
    >()
  })
})
