/**
 * examples/distributed-workers-pg.ts, run as documented (one command, the URL in
 * ERGON_DATABASE_URL) against the test file's embedded PostgreSQL.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const root = fileURLToPath(new URL("..", import.meta.url))

const run = (file: string, env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", path.join(root, "examples", file)], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => proc.kill("SIGKILL"), 90_000)
    proc.on("error", reject)
    proc.on("exit", (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })))
  })

describe("examples on PostgreSQL", () => {
  it("distributed-workers-pg.ts: two worker processes share the jobs and stop gracefully", async () => {
    const server = await Server.start()
    const { code, stdout, stderr } = await run("distributed-workers-pg.ts", { ERGON_DATABASE_URL: server.url() })
    assert.strictEqual(code, 0, `exited with ${code}: ${stderr}\n${stdout}`)
    assert.include(stdout, "2 worker processes up")
    assert.include(stdout, "all 20 jobs completed")
    const counts = [...stdout.matchAll(/ {2}worker-\d: (\d+) jobs/g)].map((m) => Number(m[1]))
    assert.deepStrictEqual(counts.length, 2)
    assert.strictEqual(counts[0]! + counts[1]!, 20)
    assert.include(stdout, "worker-1: exit code 0")
    assert.include(stdout, "worker-2: exit code 0")
  }, 120_000)
})
