/**
 * Crash safety, for real: a child process running a flow on a SQLite file is SIGKILLed mid-step
 * and around its checkpoint writes, again and again; then a last process resumes the flow. Every
 * step must end checkpointed exactly once (audited by a SQLite trigger on the steps table), the
 * result must be right, and a step may run again only when a process died while it was running.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as Sqlite from "ergon/sqlite"

const child = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url))
// `node --import tsx`, not the `tsx` binary: that one forks the real process, and SIGKILL would only kill the wrapper.
const nodeArgs = ["--import", "tsx"]

interface Run {
  readonly pid: number
  readonly killed: boolean
  readonly stdout: string
}

/** Starts the child; kills it when `killWhen` says so (given each new side-effect line), or never. */
const runChild = (
  args: ReadonlyArray<string>,
  effectsLog: string,
  killWhen: ((line: string) => boolean) | undefined,
  killAfterMillis?: number
) =>
  new Promise<Run>((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, child, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let killed = false
    const kill = () => {
      if (!killed) {
        killed = true
        proc.kill("SIGKILL")
      }
    }
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    let seen = fs.existsSync(effectsLog) ? fs.readFileSync(effectsLog, "utf8").length : 0
    const watcher = killWhen === undefined ? undefined : setInterval(() => {
      const text = fs.existsSync(effectsLog) ? fs.readFileSync(effectsLog, "utf8") : ""
      const fresh = text.slice(seen).split("\n").filter((line) => line.length > 0)
      seen = text.length
      if (fresh.some(killWhen)) kill()
    }, 1)
    const timer = killAfterMillis === undefined ? undefined : setTimeout(kill, killAfterMillis)
    proc.on("error", reject)
    proc.on("exit", (code, signal) => {
      if (watcher) clearInterval(watcher)
      if (timer) clearTimeout(timer)
      if (!killed && code !== 0) reject(new Error(`child exited with ${code ?? signal}: ${stderr}`))
      else resolve({ pid: proc.pid!, killed: signal === "SIGKILL", stdout })
    })
  })

/** Creates the store (migrations) and an audit trigger that logs every completed checkpoint write. */
const prepareStore = async (filename: string) => {
  await Effect.runPromise(Effect.scoped(Effect.asVoid(Effect.provide(Effect.void, Sqlite.layer({ filename })))))
  const db = new Database(filename)
  db.exec(`
    CREATE TABLE ckpt_audit (flow_id TEXT, key TEXT, op TEXT);
    CREATE TRIGGER ckpt_audit_insert AFTER INSERT ON ergon_steps WHEN NEW.status = 'completed'
      BEGIN INSERT INTO ckpt_audit VALUES (NEW.flow_id, NEW.key, 'insert'); END;
    CREATE TRIGGER ckpt_audit_update AFTER UPDATE ON ergon_steps WHEN NEW.status = 'completed'
      BEGIN INSERT INTO ckpt_audit VALUES (NEW.flow_id, NEW.key, 'update'); END;
  `)
  db.close()
}

const expectedResult = (steps: number) => Array.from({ length: steps }, (_, i) => (i + 1) ** 2).reduce((a, b) => a + b, 0)

const check = (filename: string, flowId: string, effectsLog: string, runs: ReadonlyArray<Run>, steps: number) => {
  const db = new Database(filename, { readonly: true })
  const audit = db.prepare("SELECT key, count(*) AS n FROM ckpt_audit WHERE flow_id = ? GROUP BY key").all(flowId) as Array<{ key: string; n: number }>
  const rows = db.prepare("SELECT key, status FROM ergon_steps WHERE flow_id = ?").all(flowId) as Array<{ key: string; status: string }>
  const flow = db.prepare("SELECT status FROM ergon_flows WHERE id = ?").get(flowId) as { status: string }
  db.close()
  assert.strictEqual(flow.status, "completed")
  const keys = Array.from({ length: steps }, (_, i) => (i === 0 ? "work" : `work#${i + 1}`))
  assert.deepStrictEqual(rows.map((r) => r.key).sort(), [...keys].sort())
  assert(rows.every((r) => r.status === "completed"))
  // every step checkpointed exactly once
  assert.deepStrictEqual(audit.map((a) => a.key).sort(), [...keys].sort())
  for (const a of audit) assert.strictEqual(a.n, 1, `step ${a.key} was checkpointed ${a.n} times`)

  const killed = new Set(runs.filter((r) => r.killed).map((r) => String(r.pid)))
  const lines = fs.readFileSync(effectsLog, "utf8").trim().split("\n").map((l) => l.split(" "))
  let reexecuted = 0
  for (const key of keys) {
    const starts = lines.filter(([what, k]) => what === "start" && k === key).map(([, , pid]) => pid!)
    assert(starts.length >= 1, `step ${key} never ran`)
    // a step runs again only when the process running it before was killed
    for (const pid of starts.slice(0, -1)) assert(killed.has(pid), `step ${key} ran again after pid ${pid}, which was not killed`)
    reexecuted += starts.length - 1
  }
  // the flow is sequential: each kill leaves at most one step in flight
  assert(reexecuted <= killed.size, `${reexecuted} re-executions for ${killed.size} kills`)
  console.log(`crash test ${flowId}: ${steps} steps, ${runs.length} processes, ${killed.size} SIGKILLs, ${reexecuted} steps re-executed, every step checkpointed once`)
  return { reexecuted, kills: killed.size }
}

const setup = async (name: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ergon-crash-${name}-`))
  const filename = path.join(dir, "store.db")
  const effectsLog = path.join(dir, "effects.log")
  await prepareStore(filename)
  return { filename, effectsLog, flowId: `crash-${name}` }
}

describe("crash safety (SIGKILL, SQLite)", () => {
  it("killed mid-step at chosen points, the flow resumes and each step is checkpointed once", async () => {
    const steps = 6
    const { filename, effectsLog, flowId } = await setup("mid-step")
    const args = [filename, flowId, effectsLog, String(steps)]
    const runs: Array<Run> = []
    // die while steps 2 and then 4 are running
    runs.push(await runChild(args, effectsLog, (line) => line.startsWith("start work#2 ")))
    runs.push(await runChild(args, effectsLog, (line) => line.startsWith("start work#4 ")))
    const last = await runChild(args, effectsLog, undefined)
    runs.push(last)
    assert(runs[0]!.killed && runs[1]!.killed)
    assert.include(last.stdout, `RESULT ${expectedResult(steps)}`)
    const { reexecuted } = check(filename, flowId, effectsLog, runs, steps)
    assert.strictEqual(reexecuted, 2)
  })

  it("killed right after a step's side effect, around its checkpoint write, and at random moments", async () => {
    const steps = 12
    const { filename, effectsLog, flowId } = await setup("mid-write")
    const args = [filename, flowId, effectsLog, String(steps)]
    const runs: Array<Run> = []
    // the checkpoint write follows the "end" side effect at once: kill as soon as it is seen
    for (const k of [1, 3, 5]) {
      const key = k === 1 ? "work" : `work#${k}`
      runs.push(await runChild(args, effectsLog, (line) => line.startsWith(`end ${key} `)))
    }
    // then at random moments
    for (let i = 0; i < 4; i++) {
      runs.push(await runChild(args, effectsLog, undefined, 500 + Math.floor(Math.random() * 700)))
    }
    const last = await runChild(args, effectsLog, undefined)
    runs.push(last)
    assert.include(last.stdout, `RESULT ${expectedResult(steps)}`)
    const figures = check(filename, flowId, effectsLog, runs, steps)
    assert(figures.kills >= 3)
  })
})
