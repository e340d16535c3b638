/**
 * The long-lived flow examples (continue-as-new, compensation, named events), run as they are.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

const run = (file: string) => {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "examples", file)], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })
  assert.strictEqual(result.status, 0, `${file} exited with ${result.status}: ${result.stderr}`)
  return result.stdout
}

describe("examples: long-lived flows", () => {
  it("subscription.ts: bills monthly, one execution per month, each with a journal of its own", () => {
    const out = run("subscription.ts")
    assert.include(out, "result: ada: ended after 4 months, 3996 cents billed")
    assert.include(out, "execution 1: continued, month 1, 2 journal entries")
    assert.include(out, "execution 3: continued, month 3, 2 journal entries")
    assert.include(out, "execution 4: completed, month 4, 1 journal entries")
    assert.strictEqual(out.match(/\[bill\]/g)?.length, 4)
  })

  it("saga.ts: a failed order releases the stock, then refunds the payment; a shipped one compensates nothing; a cancelled one is compensated", () => {
    const out = run("saga.ts")
    assert.include(out, "order-1: completed: order-1 shipped (pay-order-1)")
    assert.include(out, "  release-stock: res-lamp (compensation)\n  refund: pay-order-2 (compensation)\norder-2: failed: no address, compensated")
    assert.notInclude(out, "res-book (compensation)")
    // Cancelled while it waits: compensated by the next run, then ended.
    assert.include(out, "order-3: suspended, waiting for the pickup\norder-3: cancellation asked, status pending")
    assert.include(out, "  release-stock: res-chair (compensation)\n  refund: pay-order-3 (compensation)\norder-3: cancelled (customer cancelled), compensated")
  })

  it("events.ts: the emit wakes the waiting kitchen; a later waiter gets the same payload; the first emit wins", () => {
    const out = run("events.ts")
    assert.include(out, "kitchen-order-7: suspended, waiting for 'order-7/paid'")
    assert.include(out, "kitchen-order-7: order-7 cooked after a payment of 2350 cents")
    assert.include(out, "receipt-order-7: receipt: 2350 cents for order-7")
    assert.include(out, "emitting 'order-7/paid' again stores nothing: false")
  })
})
