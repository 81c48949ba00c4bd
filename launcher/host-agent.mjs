// The launcher's agent on another host: one per host and job, started over one ssh connection (spawn-ssh.ts),
// as Open MPI starts one orted per node. It starts the ranks the launcher asks for, sends back their output and
// their ends as frames (agent-frames.mjs) on stdout, and signals them when told to. Plain JS, so that it starts
// without a TypeScript loader.
//
// stdin carries one JSON command per line:
//   {"op":"spawn","id":3,"argv":["/usr/bin/node", ...],"env":{"TSRUN_RANK":"3", ...},"localSize":4}
//   {"op":"kill","id":3,"signal":"SIGTERM"}
//   {"op":"stdin","id":0,"data":"<base64>"}, {"op":"stdin-end","id":0}   (the launcher's stdin, for rank 0)
// The job secret comes in the environment (TSRUN_JOB_SECRET, read from stdin by the remote shell), never on a
// command line. When stdin ends (the launcher or the connection is gone) or our parent sshd goes, every rank's
// process group is killed and the agent exits; each rank also watches us (rank-preload.mjs, TSRUN_WATCH_PARENT).
import { spawn } from 'node:child_process'
import { availableParallelism, hostname } from 'node:os'
import { createInterface } from 'node:readline'
import { encodeFrame, FRAME } from './agent-frames.mjs'
import { jitFlags } from './jit-flags.mjs'

/** How long after a rank's exit its output may still come (a grandchild holding the pipe) before the exit is sent. */
const OUTPUT_AFTER_EXIT_MS = 1000

const ranks = new Map() // id -> { child, pid, open }
const out = process.stdout
const paused = new Set()
let ending = false

function send(kind, id, payload) {
  if (out.writable && !out.write(encodeFrame(kind, id, payload))) {
    // The connection is behind: stop reading the ranks' pipes until it drains (they block, as on a terminal).
    for (const r of ranks.values())
      for (const s of [r.child.stdout, r.child.stderr]) {
        if (!s || s.isPaused()) continue
        s.pause()
        paused.add(s)
      }
  }
}
out.on('drain', () => {
  for (const s of paused) s.resume()
  paused.clear()
})
out.on('error', () => end())

function start({ id, argv, env, stdin, localSize }) {
  let child
  try {
    // This host's cores decide the V8 flags (the launcher does not know them).
    const jit = jitFlags(localSize ?? 1, availableParallelism())
    child = spawn(argv[0], [...jit, ...argv.slice(1)], { env: { ...process.env, ...env }, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true })
  } catch (err) {
    return send(FRAME.failed, id, err.message)
  }
  const rank = { child, pid: child.pid, open: 2, exit: undefined, timer: undefined }
  const finish = () => {
    if (rank.exit === undefined || rank.sent) return
    rank.sent = true
    clearTimeout(rank.timer)
    ranks.delete(id)
    send(FRAME.exit, id, JSON.stringify(rank.exit))
    if (ending && ranks.size === 0) exit()
  }
  child.on('error', (err) => {
    if (rank.pid === undefined) {
      ranks.delete(id)
      send(FRAME.failed, id, err.message)
    }
  })
  if (child.pid === undefined) return // 'error' follows (EMFILE, EAGAIN, ENOENT)
  child.stdin?.on('error', () => {}) // the rank may exit without reading its input (EPIPE)
  ranks.set(id, rank)
  send(FRAME.started, id, String(child.pid))
  for (const [stream, kind] of [
    [child.stdout, FRAME.stdout],
    [child.stderr, FRAME.stderr],
  ]) {
    stream.on('data', (chunk) => send(kind, id, chunk))
    stream.on('close', () => {
      rank.open--
      if (rank.open === 0) finish()
    })
  }
  child.on('exit', (code, signal) => {
    rank.exit = { code, signal }
    if (rank.open === 0) return finish()
    rank.timer = setTimeout(() => {
      child.stdout.destroy()
      child.stderr.destroy()
      finish()
    }, OUTPUT_AFTER_EXIT_MS)
  })
}

function signal(id, sig) {
  const rank = ranks.get(id)
  if (!rank?.pid) return
  try {
    process.kill(-rank.pid, sig)
  } catch {
    try {
      process.kill(rank.pid, sig)
    } catch {}
  }
}

/** The launcher is gone: no rank outlives it. */
function end() {
  if (ending) return
  ending = true
  for (const id of ranks.keys()) signal(id, 'SIGKILL')
  if (ranks.size === 0) exit()
  setTimeout(() => process.exit(0), OUTPUT_AFTER_EXIT_MS + 500).unref()
}

/** Exits once the last frames are written (writes to a pipe are asynchronous). */
function exit() {
  if (!out.writable) process.exit(0)
  out.end(() => process.exit(0))
}

const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
lines.on('line', (line) => {
  if (!line.trim() || ending) return
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch {
    return void process.stderr.write(`tsrun: host agent on ${hostname()}: a command that is not JSON: ${line.slice(0, 80)}\n`)
  }
  if (cmd.op === 'spawn') start(cmd)
  else if (cmd.op === 'kill') signal(cmd.id, cmd.signal)
  else if (cmd.op === 'stdin') ranks.get(cmd.id)?.child.stdin?.write(Buffer.from(cmd.data, 'base64'))
  else if (cmd.op === 'stdin-end') ranks.get(cmd.id)?.child.stdin?.end()
})
lines.on('close', end)
for (const s of ['SIGHUP', 'SIGTERM', 'SIGINT']) process.on(s, end)

// Our parent (sshd's session) gone without closing stdin: as the ranks' watchdog does.
const parent = process.ppid
setInterval(() => process.ppid !== parent && end(), 250).unref()

send(FRAME.ready, 0, hostname())
