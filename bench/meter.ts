/**
 * What the machine was doing while a figure was measured: the load average, this process's CPU,
 * the PostgreSQL server's CPU (when the harness started one), and the CPU that other processes
 * took from the shared cores. Node builtins only: the peer programs (bench/peers) use it too.
 *
 * - `loadNow()`: `os.loadavg()`, as three numbers.
 * - `startMeter(serverPid?)`: samples now; its `stop()` returns the wall time, this process's CPU
 *   (`process.cpuUsage`: user + system, every thread), the server's CPU (the process tree rooted at
 *   `serverPid`, read from /proc) and, from /proc/stat, how many cores the whole machine kept busy
 *   and how many of them went to other processes.
 *
 * On a 2-core machine shared with other work, CPU per flow is steadier than wall time: it does not
 * count the time this process waited for a core.
 */
import * as fs from "node:fs"
import * as os from "node:os"

export interface Load {
  /** The 1-, 5- and 15-minute load averages (runnable and uninterruptible tasks). */
  readonly load1: number
  readonly load5: number
  readonly load15: number
}

export const loadNow = (): Load => {
  const [load1 = 0, load5 = 0, load15 = 0] = os.loadavg()
  return { load1, load5, load15 }
}

export const fmtLoad = (load: Load): string => `${load.load1.toFixed(2)} ${load.load5.toFixed(2)} ${load.load15.toFixed(2)}`

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux, whatever the kernel's HZ). */
const TICK_MICROS = 10_000

const readText = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

interface ProcStat {
  readonly ppid: number
  /** utime + stime, µs. */
  readonly own: number
  /** cutime + cstime (children already waited for), µs. */
  readonly reaped: number
}

const procStat = (pid: number): ProcStat | undefined => {
  const text = readText(`/proc/${pid}/stat`)
  if (text === undefined) return undefined
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; the fields follow the last ')'
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const num = (i: number) => Number(fields[i])
  // after comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
  return { ppid: num(1), own: (num(11) + num(12)) * TICK_MICROS, reaped: (num(13) + num(14)) * TICK_MICROS }
}

/**
 * CPU µs used so far by the process `root` and its children: its own time, its children that
 * exited (cutime/cstime) and its living children. For PostgreSQL's postmaster: every backend,
 * including those of connections already closed. Undefined without /proc or once `root` is gone.
 */
export const treeCpuMicros = (root: number): number | undefined => {
  const top = procStat(root)
  if (top === undefined) return undefined
  let total = top.own + top.reaped
  let entries: Array<string>
  try {
    entries = fs.readdirSync("/proc")
  } catch {
    return total
  }
  for (const entry of entries) {
    const c = entry.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const child = procStat(Number(entry))
    if (child !== undefined && child.ppid === root) total += child.own
  }
  return total
}

/** The parent of `pid` (for a PostgreSQL backend: the postmaster). */
export const parentOf = (pid: number): number | undefined => procStat(pid)?.ppid

/** Busy and total CPU time of the whole machine so far (/proc/stat), µs summed over the cores. */
const machineTimes = (): { readonly busy: number; readonly total: number } | undefined => {
  const line = readText("/proc/stat")?.split("\n", 1)[0]
  if (line === undefined || !line.startsWith("cpu ")) return undefined
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .slice(4)
    .trim()
    .split(/\s+/)
    .map(Number)
  const busy = user + nice + system + irq + softirq + steal
  return { busy: busy * TICK_MICROS, total: (busy + idle + iowait) * TICK_MICROS }
}

export interface Measured {
  readonly wallMs: number
  /** This process's CPU over the interval (user + system, all threads), µs. */
  readonly cpuMicros: number
  /** The server's CPU over the interval, µs (when a server pid was given and /proc can be read). */
  readonly serverCpuMicros?: number | undefined
  /** Cores the whole machine kept busy on average over the interval (/proc/stat). */
  readonly busyCores?: number | undefined
  /** Of those, cores used by processes other than this one and the server. */
  readonly otherCores?: number | undefined
  readonly loadBefore: Load
  readonly loadAfter: Load
}

export interface Meter {
  readonly stop: () => Measured
}

/** Starts measuring; `serverPid` is a process whose tree's CPU is reported as the server's. */
export const startMeter = (serverPid?: number | undefined): Meter => {
  const loadBefore = loadNow()
  const server0 = serverPid === undefined ? undefined : treeCpuMicros(serverPid)
  const machine0 = machineTimes()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  return {
    stop: () => {
      const wallMs = performance.now() - t0
      const cpu = process.cpuUsage(cpu0)
      const machine1 = machineTimes()
      const server1 = serverPid === undefined ? undefined : treeCpuMicros(serverPid)
      const cpuMicros = cpu.user + cpu.system
      const serverCpuMicros = server0 === undefined || server1 === undefined ? undefined : server1 - server0
      let busyCores: number | undefined
      let otherCores: number | undefined
      if (machine0 !== undefined && machine1 !== undefined && machine1.total > machine0.total) {
        const cores = os.cpus().length
        const share = (machine1.busy - machine0.busy) / (machine1.total - machine0.total)
        busyCores = share * cores
        const wallMicros = wallMs * 1000
        const ours = (cpuMicros + (serverCpuMicros ?? 0)) / wallMicros
        // /proc/stat ticks are coarse (10 ms): never report a negative share
        otherCores = Math.max(0, busyCores - ours)
      }
      return { wallMs, cpuMicros, serverCpuMicros, busyCores, otherCores, loadBefore, loadAfter: loadNow() }
    }
  }
}
