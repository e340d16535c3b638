/**
 * Type tests for `Dag`, checked by `tsc --noEmit` (`npm run typecheck`); nothing here runs.
 *
 * Positive cases assert exact types (`toEqualTypeOf`), so a state that collapsed to `any` or
 * `never` fails. Each misuse is one line under `// @ts-expect-error <text>`, and
 * `test/types/messages.test.ts` checks that tsc's diagnostic for that line contains `<text>`: a
 * misuse that stops being an error, or that fails for another reason, fails the tests.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import * as Dag from "../../src/Dag.js"
import * as Flow from "../../src/Flow.js"
import type { VersionMismatchError } from "../../src/FlowError.js"
import * as Step from "../../src/Step.js"

class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { id: Schema.String }) {}
class Payments extends Context.Tag("test/Payments")<Payments, { readonly charge: Effect.Effect<number> }>() {}

const User = Schema.Struct({ id: Schema.String, name: Schema.String })
const validateUser = Step.make("validate-user", {
  success: User,
  error: UserNotFound,
  run: (id: string) => Effect.succeed({ id, name: "Ada" })
})

const base = Dag.make("d").step("a", Effect.succeed(1)).step("b", Effect.succeed("x"))

/** What `Dag.run(base)` requires: a running flow, named after the DAG. */
type InFlowD = Flow.InFlow<"ergon: DAG 'd' runs only inside a flow; call it from a flow's run (Flow.make)">

describe("Dag.make", () => {
  it("starts empty, named by a literal", () => {
    expectTypeOf(Dag.make("checkout")).toEqualTypeOf<Dag.Dag<"checkout", {}, never, never>>()
    expectTypeOf<Dag.Dag.Outputs<ReturnType<typeof Dag.make<"checkout">>>>().toEqualTypeOf<{}>()
  })
})

describe("Dag.step", () => {
  it("accumulates each node's result in a record", () => {
    expectTypeOf<Dag.Dag.Outputs<typeof base>>().toEqualTypeOf<{ readonly a: number; readonly b: string }>()
  })

  it("hands a node exactly its dependencies' results", () => {
    const d = base.step("c", ["a"], (results) => {
      expectTypeOf(results).toEqualTypeOf<{ readonly a: number }>()
      return Effect.succeed(results.a > 0)
    })
    expectTypeOf<Dag.Dag.Outputs<typeof d>>().toEqualTypeOf<
      { readonly a: number; readonly b: string; readonly c: boolean }
    >()
  })

  it("accepts an empty list of dependencies", () => {
    const d = base.step("c", [], (results) => {
      expectTypeOf(results).toEqualTypeOf<{}>()
      return Effect.succeed(null)
    })
    expectTypeOf<Dag.Dag.Outputs<typeof d>>().toEqualTypeOf<
      { readonly a: number; readonly b: string; readonly c: null }
    >()
  })

  it("collects the nodes' errors and services, but not the running flow they need", () => {
    const d = Dag.make("checkout")
      .step("user", validateUser("u1"))
      .step("charge", ["user"], () => Effect.flatMap(Payments, (payments) => payments.charge))
    expectTypeOf(d).toEqualTypeOf<
      Dag.Dag<
        "checkout",
        & { readonly user: { readonly id: string; readonly name: string } }
        & { readonly charge: number },
        UserNotFound,
        Payments
      >
    >()
    expectTypeOf<Dag.Dag.Error<typeof d>>().toEqualTypeOf<UserNotFound>()
    expectTypeOf<Dag.Dag.Requirements<typeof d>>().toEqualTypeOf<Payments>()
    expectTypeOf<Dag.Dag.Name<typeof d>>().toEqualTypeOf<"checkout">()
  })

  it("takes a step node's types from the step's schemas", () => {
    const noSuccess = Step.make("no-success", { run: () => Effect.void })
    const d = Dag.make("schemas").step("user", validateUser("u1")).step("log", ["user"], () => noSuccess())
    expectTypeOf<Dag.Outputs<typeof d>>().toEqualTypeOf<
      { readonly user: { readonly id: string; readonly name: string }; readonly log: void }
    >()
    expectTypeOf<Dag.Error<typeof d>>().toEqualTypeOf<UserNotFound>()
  })

  it("passes on the pins of the children its nodes invoke, for Flow.make to check", () => {
    const Child = Flow.make("child", { input: Schema.Void, versions: ["1.0.0"], run: () => Effect.void })
    const d = Dag.make("invokes").step("child", Flow.invoke(Child, undefined))
    type Pinned = Flow.InvokesPinned<"ergon: Flow.invoke runs only inside a flow; call it from a flow's run (Flow.make)", "child", "1.0.0">
    expectTypeOf(d).toEqualTypeOf<Dag.Dag<"invokes", { readonly child: void }, VersionMismatchError, Pinned>>()
    expectTypeOf<Dag.Requirements<typeof d>>().toEqualTypeOf<never>()
    expectTypeOf<Dag.RunRequirements<typeof d>>().toEqualTypeOf<
      Pinned | Flow.InFlow<"ergon: DAG 'invokes' runs only inside a flow; call it from a flow's run (Flow.make)">
    >()
  })

  it("rejects a name used twice", () => {
    // @ts-expect-error TypeError<"ergon: duplicate step 'a'">
    base.step("a", Effect.succeed(2))
    // @ts-expect-error TypeError<"ergon: duplicate step 'b'">
    base.step("b", ["a"], ({ a }) => Effect.succeed(a))
  })

  it("rejects a name that is not a literal", () => {
    const name: string = "c"
    // @ts-expect-error TypeError<"ergon: a step name must be a string literal, not 'string'">
    base.step(name, Effect.succeed(2))
  })

  it("rejects a dependency on a step that does not exist (or not yet)", () => {
    // @ts-expect-error Type '"zz"' is not assignable to type '"a" | "b"'.
    base.step("c", ["zz"], () => Effect.succeed(1))
    // @ts-expect-error Type '"c"' is not assignable to type '"a" | "b"'.
    base.step("c", ["a", "c"], () => Effect.succeed(1))
    // @ts-expect-error ergon: the first step of a DAG has no step declared before it to depend on; give it no dependencies
    Dag.make("cycle").step("a", ["b"], () => Effect.succeed(1)).step("b", ["a"], () => Effect.succeed(2))
  })

  it("rejects a dependency's result used at the wrong type", () => {
    // @ts-expect-error Property 'toUpperCase' does not exist on type 'number'.
    base.step("c", ["a"], ({ a }) => Effect.succeed(a.toUpperCase()))
    // @ts-expect-error Argument of type 'number' is not assignable to parameter of type 'string'.
    base.step("c", ["a"], ({ a }) => validateUser(a))
  })

  it("rejects a result that is not among the dependencies", () => {
    // @ts-expect-error Property 'b' does not exist on type '{ readonly a: number; }'.
    base.step("c", ["a"], ({ b }) => Effect.succeed(b))
  })
})

describe("Dag.run", () => {
  it("returns every node's result, typed, and needs a running flow", () => {
    expectTypeOf(Dag.run(base)).toEqualTypeOf<
      Effect.Effect<{ readonly a: number; readonly b: string }, never, InFlowD>
    >()
    expectTypeOf(base.pipe(Dag.run({ concurrency: 4 }))).toEqualTypeOf<
      Effect.Effect<{ readonly a: number; readonly b: string }, never, InFlowD>
    >()
  })

  it("fails with the nodes' errors and needs their services", () => {
    const d = Dag.make("checkout")
      .step("user", validateUser("u1"))
      .step("charge", ["user"], () => Effect.flatMap(Payments, (payments) => payments.charge))
    expectTypeOf(Dag.run(d)).toEqualTypeOf<
      Effect.Effect<
        { readonly user: { readonly id: string; readonly name: string }; readonly charge: number },
        UserNotFound,
        Payments | Flow.InFlow<"ergon: DAG 'checkout' runs only inside a flow; call it from a flow's run (Flow.make)">
      >
    >()
  })

  it("rejects reading a result that does not exist", () => {
    Effect.gen(function*() {
      const out = yield* Dag.run(base)
      // @ts-expect-error Property 'c' does not exist on type '{ readonly a: number; readonly b: string; }'.
      return out.c
    })
  })

  it("rejects running outside a flow, with a sentence naming the DAG", () => {
    // @ts-expect-error Type 'InFlow<"ergon: DAG 'd' runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Dag.run(base))
    // @ts-expect-error Type 'InFlow<"ergon: DAG 'd' runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runFork(base.pipe(Dag.run({ concurrency: 2 })))
  })

  it("runs inside a flow, which provides the running flow", () => {
    const F = Flow.make("runs-dag", { input: Schema.Void, success: Schema.Number, run: () => Effect.map(Dag.run(base), (out) => out.a) })
    expectTypeOf<Flow.Context<typeof F>>().toEqualTypeOf<never>()
  })
})

describe("the extractors", () => {
  it("are exported one level up, as the documentation writes them, and equal the namespace's", () => {
    const d = base.step("c", ["a"], ({ a }) => validateUser(String(a)))
    expectTypeOf<Dag.Outputs<typeof d>>().toEqualTypeOf<Dag.Dag.Outputs<typeof d>>()
    expectTypeOf<Dag.Outputs<typeof d>>().toEqualTypeOf<
      { readonly a: number; readonly b: string; readonly c: { readonly id: string; readonly name: string } }
    >()
    expectTypeOf<Dag.Error<typeof d>>().toEqualTypeOf<UserNotFound>()
    expectTypeOf<Dag.Requirements<typeof d>>().toEqualTypeOf<never>()
    expectTypeOf<Dag.Name<typeof d>>().toEqualTypeOf<"d">()
  })
})
