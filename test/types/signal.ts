/**
 * Type tests for the order of a signal's arguments, checked by `tsc --noEmit` (`npm run
 * typecheck`); nothing here runs. `Client.signal` and a handle's `signal` both take the schema
 * before the payload, as `Flow.awaitSignal(name, schema)` does; the payload is checked against
 * the schema's type, and the order of the first version (payload, then schema) does not compile.
 * `test/types/messages.test.ts` checks the text under each `// @ts-expect-error`.
 */
import type { Effect, Schema as S } from "effect"
import { Schema } from "effect"
import { describe, expectTypeOf, it } from "vitest"
import * as Client from "../../src/Client.js"
import type { ExecutionLog } from "../../src/ExecutionLog.js"
import type { FlowEndedError, FlowNotFoundError, InvalidSignalError, StoreError } from "../../src/FlowError.js"
import type { FlowHandle } from "../../src/Scheduler.js"

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })
declare const handle: FlowHandle<string, never>

type Sent = Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>

describe("signal argument order", () => {
  it("takes the schema before the payload, or the payload alone", () => {
    expectTypeOf(Client.signal("exp-1", "approval", Approval, { approved: true, by: "ann" })).toEqualTypeOf<Sent>()
    expectTypeOf(Client.signal("exp-1", "approval", { approved: true, by: "ann" })).toEqualTypeOf<Sent>()
    expectTypeOf(handle.signal("approval", Approval, { approved: true, by: "ann" })).toEqualTypeOf<Sent>()
    expectTypeOf(handle.signal("approval", { approved: true, by: "ann" })).toEqualTypeOf<Sent>()
    const Count: S.Schema<number, string> = Schema.NumberFromString
    expectTypeOf(Client.signal("exp-1", "count", Count, 3)).toEqualTypeOf<Sent>()
  })

  it("checks the payload against the schema", () => {
    // @ts-expect-error Type 'string' is not assignable to type 'boolean'
    Client.signal("exp-1", "approval", Approval, { approved: "yes", by: "ann" })
    // @ts-expect-error Type 'string' is not assignable to type 'boolean'
    handle.signal("approval", Approval, { approved: "yes", by: "ann" })
  })

  it("refuses the payload before the schema", () => {
    // @ts-expect-error 'approved' does not exist in type 'Schema<
    Client.signal("exp-1", "approval", { approved: true, by: "ann" }, Approval)
  })
})
