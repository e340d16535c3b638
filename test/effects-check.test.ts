/**
 * The multi-process tests' side-effect check (test/fixtures/effects-check.ts) on made-up runs:
 * it must fail for a repetition nothing explains, whichever run came first.
 */
import { assert, describe, it } from "@effect/vitest"
import { checkRuns, type Explained } from "./fixtures/effects-check.js"

const totals = (): Explained => ({ reExecuted: 0, byKilled: 0, byLeaseLost: 0 })
const killed = new Set(["1"])
const lost = new Set(["2 f"])

describe("the side-effect check of the multi-process tests", () => {
  it("accepts one finished run, and repetitions by killed processes or by processes that lost the lease", () => {
    const t = totals()
    assert.isUndefined(checkRuns("f", "s", { starts: ["3"], ends: ["3"] }, killed, lost, t))
    assert.isUndefined(checkRuns("f", "s", { starts: ["1", "3"], ends: ["3"] }, killed, lost, t))
    // the stale run (lease lost while stalled) came after the run that counted
    assert.isUndefined(checkRuns("f", "s", { starts: ["3", "2"], ends: ["3", "2"] }, killed, lost, t))
    assert.deepStrictEqual(t, { reExecuted: 2, byKilled: 1, byLeaseLost: 1 })
  })

  it("refuses two runs nothing explains, a step that never ran, and a counted run that did not finish", () => {
    assert.match(checkRuns("f", "s", { starts: ["3", "4"], ends: ["3", "4"] }, killed, lost, totals())!, /ran 2 times/)
    // pid 2 lost the lease of another flow, not this one
    assert.match(checkRuns("g", "s", { starts: ["2", "3"], ends: ["3"] }, killed, lost, totals())!, /ran 2 times/)
    assert.match(checkRuns("f", "s", undefined, killed, lost, totals())!, /never ran/)
    assert.match(checkRuns("f", "s", { starts: ["1", "3"], ends: ["1"] }, killed, lost, totals())!, /did not finish/)
  })
})
