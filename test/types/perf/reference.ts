// The same imports and calls as dag100.ts with a single node: what the compile costs without the
// DAG. `test/types/perf.test.ts` subtracts it to get the DAG's own share.
import * as Effect from "effect/Effect"
import * as Dag from "../../../src/Dag.js"

export const dag = Dag.make("perf")
  .step("n0", Effect.succeed(0))

export type Outputs = Dag.Dag.Outputs<typeof dag>

export const program = Effect.map(Dag.run(dag, { concurrency: 8 }), (out) => out.n0 + out.n0)
