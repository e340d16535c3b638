/**
 * The peers measured beside Ergon: @effect/workflow (memory engine, and @effect/cluster's durable
 * engine on SQLite) and DBOS Transact (PostgreSQL). Each is a program in bench/peers/, installed
 * by bench/peers/package.json apart from the library, and run as a subprocess that prints one
 * JSON line (see bench/peers/README.md).
 *
 * - `ensurePeers()` installs bench/peers/node_modules when it is missing or older than the lock
 *   (`npm ci`), and returns a reason rather than throwing when that fails (an offline machine).
 * - `runPeer(program, args)` runs one program and returns its result line.
 *
 * This file only imports node builtins: the root tsconfig typechecks it, and the peers' packages
 * are not in the root node_modules.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The line a peer program prints (bench/peers/common.ts builds it). */
export interface PeerResult {
  readonly peer: "effect-workflow-memory" | "effect-workflow-sqlite" | "dbos"
  readonly scenario: 1 | 2
  readonly n: number
  readonly elapsedMs: number
  readonly stepsPerSecond: number
  readonly flowsPerSecond: number
  readonly flowP50Ms?: number | undefined
  readonly flowP99Ms?: number | undefined
  readonly stepP50Ms?: number | undefined
  readonly stepP99Ms?: number | undefined
  /** Scenario 1: from the call that starts a flow to its first step's run, p50. */
  readonly flowStartP50Ms?: number | undefined
  /** Untimed flows of the workload run in the peer's process before the timed ones. */
  readonly warmup?: number | undefined
  /** The peer process's CPU (user + system) over the timed run ÷ the flows, µs. */
  readonly cpuPerFlowMicros?: number | undefined
  /** The database server's CPU over the timed run ÷ the flows, µs (DBOS, given `--server-pid`). */
  readonly serverCpuPerFlowMicros?: number | undefined
  readonly notes: ReadonlyArray<string>
}

export type PeerProgram = "effect-workflow" | "dbos"

const peersDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "peers")
const repoRoot = path.resolve(peersDir, "..", "..")

const installTimeoutMs = 15 * 60_000
const defaultRunTimeoutMs = 10 * 60_000
const tailChars = 4_000

const mtime = (file: string): number | undefined => {
  try {
    return fs.statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

/** Keeps the last `tailChars` characters written to it. */
const tail = () => {
  let text = ""
  return {
    push(chunk: Buffer | string): void {
      text = (text + chunk.toString()).slice(-tailChars)
    },
    get text(): string {
      return text.trim()
    }
  }
}

/** Why bench/peers/node_modules must be (re)installed, or undefined when it is up to date. */
const staleness = (): string | undefined => {
  const installed = mtime(path.join(peersDir, "node_modules", ".package-lock.json"))
  if (installed === undefined) return "bench/peers/node_modules is missing"
  for (const file of ["package-lock.json", "package.json"]) {
    const changed = mtime(path.join(peersDir, file))
    if (changed !== undefined && changed > installed) return `bench/peers/${file} is newer than its node_modules`
  }
  return undefined
}

/** The gist of npm's error output: its first few `npm error` lines, without stacks and objects. */
const summary = (text: string): string => {
  const lines = text
    .split("\n")
    .filter((line) => line.startsWith("npm error "))
    .map((line) => line.slice("npm error ".length).trim())
    .filter((line) => line !== "" && !/^(at |[{}]|\w+: ['\d])/.test(line))
    .slice(0, 4)
  return lines.length === 0 ? "" : `: ${lines.join("; ")}`
}

const install = (): Promise<{ ok: true } | { ok: false; reason: string }> =>
  new Promise((resolve) => {
    const command = fs.existsSync(path.join(peersDir, "package-lock.json")) ? "ci" : "install"
    const output = tail()
    const child = spawn("npm", [command, "--no-fund", "--no-audit"], {
      cwd: peersDir,
      stdio: ["ignore", "pipe", "pipe"],
      shell: process.platform === "win32"
    })
    const onData = (chunk: Buffer) => {
      process.stderr.write(chunk)
      output.push(chunk)
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    const timer = setTimeout(() => child.kill("SIGKILL"), installTimeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ ok: false, reason: `could not run npm ${command} in bench/peers: ${error.message}` })
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resolve({ ok: true })
      const how = signal !== null ? `was killed (${signal})` : `exited with code ${code}`
      resolve({ ok: false, reason: `npm ${command} in bench/peers ${how}${summary(output.text)}` })
    })
  })

let ensured: Promise<{ ok: true } | { ok: false; reason: string }> | undefined

/**
 * Installs the peers' packages when bench/peers/node_modules is missing or stale (`npm ci`, or
 * `npm install` without a lock), printing npm's progress on stderr. Resolves with a reason instead
 * of rejecting when the install fails. Runs at most once per process.
 */
export const ensurePeers = (): Promise<{ ok: true } | { ok: false; reason: string }> => {
  ensured ??= (async () => {
    const why = staleness()
    if (why === undefined) return { ok: true } as const
    process.stderr.write(`peers: ${why}; installing (npm ci in bench/peers)…\n`)
    const result = await install()
    if (result.ok) process.stderr.write("peers: installed\n")
    return result
  })()
  return ensured
}

const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

const parseResult = (line: string): PeerResult | string => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return `the last line on stdout is not JSON: ${line.slice(0, 200)}`
  }
  if (typeof value !== "object" || value === null) return "the result line is not a JSON object"
  const record = value as Record<string, unknown>
  for (const key of ["n", "elapsedMs", "stepsPerSecond", "flowsPerSecond"]) {
    if (!isNumber(record[key])) return `the result line has no number '${key}'`
  }
  if (typeof record["peer"] !== "string") return "the result line has no 'peer'"
  if (record["scenario"] !== 1 && record["scenario"] !== 2) return "the result line has no scenario 1 or 2"
  if (!Array.isArray(record["notes"])) return "the result line has no 'notes' array"
  return value as PeerResult
}

/**
 * Runs `bench/peers/<program>.ts` with `args` (`node --import tsx`, from the repository root) and
 * returns the JSON line it printed. Rejects, with the end of the program's stderr, when it exits
 * non-zero, prints no valid result, or runs past `timeoutMs` (then it is killed).
 */
export const runPeer = (
  program: PeerProgram,
  args: ReadonlyArray<string>,
  timeoutMs: number = defaultRunTimeoutMs
): Promise<PeerResult> =>
  new Promise((resolve, reject) => {
    const file = path.join(peersDir, `${program}.ts`)
    const stdout: Array<Buffer> = []
    const stderr = tail()
    const child = spawn(process.execPath, ["--import", "tsx", file, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const what = `peer ${program} ${args.join(" ")}`
    const fail = (message: string) =>
      reject(new Error(`${what}: ${message}${stderr.text === "" ? "" : `\n--- stderr (end) ---\n${stderr.text}`}`))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.stdout.on("data", (chunk: Buffer) => void stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
    child.on("error", (error) => {
      clearTimeout(timer)
      fail(`could not start: ${error.message}`)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (timedOut) return fail(`timed out after ${timeoutMs} ms (killed)`)
      if (code !== 0) return fail(signal !== null ? `killed by ${signal}` : `exited with code ${code}`)
      const lines = Buffer.concat(stdout).toString().split("\n").map((l) => l.trim()).filter((l) => l !== "")
      const last = lines[lines.length - 1]
      if (last === undefined) return fail("printed no result line")
      const result = parseResult(last)
      if (typeof result === "string") return fail(result)
      resolve(result)
    })
  })
