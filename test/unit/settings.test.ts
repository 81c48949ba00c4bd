// src/settings.ts is the one table of environment variables: the docs list exactly its names, nothing else reads
// a TSRUN_* variable, every TSRUN_*/SLURM_* name in the code is in it, and bad values fail naming the variable.
// docs/errors.md names every error class and code.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { rankVars } from '../../launcher/launch.ts'
import { PROTOCOL_VARIABLES } from '../../src/bootstrap/protocol.ts'
import { ALGORITHMS } from '../../src/comm/select.ts'
import { UsageError } from '../../src/errors.ts'
import {
  algorithmSetting,
  algorithmVariable,
  parseSetting,
  resetSettingsForTests,
  setting,
  SETTING_NAMES,
  SETTINGS,
  type SettingName,
  type SettingSpec,
} from '../../src/settings.ts'

const ROOT = join(import.meta.dirname, '../..')
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const spec = (name: SettingName) => SETTINGS[name] as SettingSpec

/** Every source file under src/ and launcher/ (TypeScript, the launcher's plain JavaScript, the C helpers). */
function sources(): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (/\.(ts|mts|mjs|js|c|h)$/.test(e.name)) out.push(relative(ROOT, p))
    }
  }
  walk(join(ROOT, 'src'))
  walk(join(ROOT, 'launcher'))
  return out.sort()
}

/** Rows of the markdown tables whose first header cell is `first`, as arrays of cells. */
function tableRows(markdown: string, first: string): string[][] {
  const rows: string[][] = []
  let inTable = false
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim())
  for (const line of markdown.split('\n')) {
    if (!line.trim().startsWith('|')) {
      inTable = false
      continue
    }
    const c = cells(line)
    if (c.every((x) => /^:?-+:?$/.test(x))) continue
    if (!inTable) {
      inTable = c[0] === first
      if (inTable) continue
    }
    if (inTable) rows.push(c)
  }
  return rows
}

afterEach(() => resetSettingsForTests())

describe('docs/configuration.md', () => {
  const rows = tableRows(read('docs/configuration.md'), 'name')
  const byName = new Map(rows.map((r) => [r[0]!.replace(/`/g, ''), r]))

  test('lists exactly the settings of src/settings.ts, each once', () => {
    expect(rows.length).toBe(byName.size)
    expect([...byName.keys()].sort()).toEqual([...SETTING_NAMES].sort())
  })

  test('each row has the type, default, reader and setter of the table', () => {
    for (const name of SETTING_NAMES) {
      const s = spec(name)
      const [, type, dflt, readBy, setBy] = byName.get(name)!
      expect(type, name).toMatch(new RegExp(`^${s.type}\\b`))
      expect(readBy, name).toBe(s.readBy)
      expect(setBy, name).toMatch(new RegExp(`^${s.setBy}\\b`))
      for (const flag of s.flag?.split(', ') ?? []) expect(setBy, name).toContain(`\`${flag}\``)
      const expected =
        s.defaultText ??
        (!('default' in s) || s.default === undefined ? '—' : s.type === 'bool' ? (s.default ? '1' : '0') : s.default === '' ? '(empty)' : String(s.default))
      expect(dflt!.replace(/`/g, ''), name).toContain(expected)
      if (s.defaultText === undefined && !('default' in s && s.default !== undefined)) expect(dflt, name).toBe('—')
    }
  })
})

describe('who reads the environment', () => {
  /**
   * The launcher's plain-JavaScript files run in every rank before (or without) the TypeScript sources, and must
   * work from the published package, where src/ is compiled to dist/: they read the few protocol variables they
   * need (the parent to watch, the rank for their one line) directly. Their names are still checked below.
   */
  const PLAIN_JS = ['launcher/load-error.mjs', 'launcher/rank-main.mjs', 'launcher/rank-preload.mjs']
  /** `process.env.TSRUN_X`, `process.env['TSRUN_X']`, `env.TSRUN_X` (an env object) read, not assigned; destructuring. */
  const READ = /(?:process\.env|\benv)\s*(?:\.|\[\s*['"`])\s*(TSRUN_[A-Z0-9_]+)(?![A-Z0-9_])(?:['"`]\s*\])?(?!\s*=[^=])/g
  const DESTRUCTURED = /\{[^}]*\b(TSRUN_[A-Z0-9_]+)\b[^}]*\}\s*=\s*process\.env/g

  test('no file but src/settings.ts reads a TSRUN_* variable itself', () => {
    const offenders: string[] = []
    for (const file of sources()) {
      if (file === 'src/settings.ts' || PLAIN_JS.includes(file) || /\.(c|h)$/.test(file)) continue
      const text = read(file)
      text.split('\n').forEach((line, i) => {
        for (const re of [READ, DESTRUCTURED]) for (const m of line.matchAll(re)) offenders.push(`${file}:${i + 1}: ${m[1]} (use setting('${m[1]}'))`)
      })
    }
    expect([...new Set(offenders)]).toEqual([])
  })

  test("the launcher's plain-JavaScript files read only variables the launcher sets", () => {
    for (const file of PLAIN_JS) {
      for (const m of read(file).matchAll(/process\.env\.([A-Z0-9_]+)/g)) {
        const name = m[1] as SettingName
        expect(SETTINGS[name], `${file}: ${name}`).toBeDefined()
        expect(['launcher', 'slurm'], `${file}: ${name}`).toContain(spec(name).setBy)
      }
    }
  })
})

describe('names in the code', () => {
  const codes = [...read('src/errors.ts').matchAll(/\|\s*'(TSRUN_[A-Z_]+)'/g)].map((m) => m[1]!)
  /** Not environment variables: the remote shell's line that gives the launcher a remote rank's pid. */
  const OTHER = ['TSRUN_REMOTE_PID']

  test('every TSRUN_* and SLURM_* name in src/ and launcher/ is a setting, an error code or a known other name', () => {
    expect(codes.length).toBeGreaterThan(5)
    const unknown: string[] = []
    for (const file of sources()) {
      for (const m of read(file).matchAll(/\b(?:TSRUN|SLURM)_[A-Z0-9][A-Z0-9_]*\b/g)) {
        const name = m[0].replace(/_+$/, '')
        if (!(name in SETTINGS) && !codes.includes(name) && !OTHER.includes(name)) unknown.push(`${file}: ${name}`)
      }
    }
    expect([...new Set(unknown)]).toEqual([])
  })

  test('every collective has its algorithm variable, and its meaning names the algorithms', () => {
    const tables: Record<string, { name: string }[]> = { ...ALGORITHMS, exscan: ALGORITHMS.scan }
    const variables = SETTING_NAMES.filter((n) => n.endsWith('_ALGORITHM'))
    expect(variables.sort()).toEqual(Object.keys(tables).map(algorithmVariable).sort())
    for (const [collective, table] of Object.entries(tables)) {
      const meaning = spec(algorithmVariable(collective) as SettingName).meaning
      for (const c of table) expect(meaning, collective).toContain(c.name)
    }
  })

  test('the launcher sets only protocol variables for its ranks', () => {
    const vars = rankVars({ rank: 0, host: 'h', nodeRank: 0, localRank: 0, localSize: 1 }, 1, { id: 'j', dir: '/d', shmDir: '/s' } as never, 'tcp://h:1', {
      multiHost: true,
      routeTarget: 'r',
      iface: 'eth0',
    })
    for (const name of Object.keys(vars)) expect(PROTOCOL_VARIABLES, name).toContain(name)
    for (const name of PROTOCOL_VARIABLES) expect(spec(name as SettingName).readBy, name).not.toBe('launcher')
  })
})

describe('parsing', () => {
  test('unset or empty gives the default; durations are seconds in, milliseconds out', () => {
    expect(parseSetting('TSRUN_STALL_WARNING', undefined)).toBe(60_000)
    expect(parseSetting('TSRUN_STALL_WARNING', '')).toBe(60_000)
    expect(parseSetting('TSRUN_OP_TIMEOUT', undefined)).toBeUndefined()
    expect(parseSetting('TSRUN_OP_TIMEOUT', '0.5')).toBe(500)
    expect(parseSetting('TSRUN_SHM', undefined)).toBe(true)
    expect(parseSetting('TSRUN_TRANSPORT', undefined)).toBe('auto')
    expect(parseSetting('TSRUN_NODE_ARGS', undefined)).toBe('')
  })

  test('0 is a value, not "unset" (TSRUN_TIMELINE_P2P_BYTES=0: every message gets a span)', () => {
    expect(parseSetting('TSRUN_TIMELINE_P2P_BYTES', '0')).toBe(0)
    expect(parseSetting('TSRUN_TIMELINE_P2P_BYTES', undefined)).toBe(64 * 1024)
  })

  test('booleans: 1/0, true/false, yes/no, on/off', () => {
    for (const t of ['1', 'true', 'YES', 'on']) expect(parseSetting('TSRUN_ENCRYPT', t)).toBe(true)
    for (const f of ['0', 'false', 'No', 'off']) expect(parseSetting('TSRUN_SHM', f)).toBe(false)
  })

  test('the example message', () => {
    expect(() => parseSetting('TSRUN_OP_TIMEOUT', 'abc')).toThrow(new UsageError('TSRUN_OP_TIMEOUT must be a number of seconds > 0, got "abc"'))
    expect(() => parseSetting('TSRUN_DL_BACKEND', 'gpu')).toThrow('TSRUN_DL_BACKEND must be one of node, wasm, cpu, got "gpu"')
  })

  /** A value each type rejects (strings and paths take anything). */
  const bad: Partial<Record<SettingSpec['type'], string[]>> = {
    int: ['abc', '1.5', '-1'],
    number: ['abc'],
    duration: ['abc', '0', '-2'],
    bool: ['maybe'],
    enum: ['nope'],
  }

  test.each(SETTING_NAMES.filter((n) => bad[spec(n).type]))('%s: a bad value is a UsageError naming the variable and the value', (name) => {
    for (const raw of bad[spec(name).type]!) {
      let err: unknown
      try {
        parseSetting(name, raw)
      } catch (e) {
        err = e
      }
      expect(err, `${name}=${raw}`).toBeInstanceOf(UsageError)
      expect((err as Error).message).toMatch(new RegExp(`^${name} must be .*, got "${raw.replace(/[.]/g, '\\.')}"$`))
    }
  })

  test('ranges: a port above 65535, a segment below 1 KiB', () => {
    expect(() => parseSetting('TSRUN_STORE_PORT', '70000')).toThrow('TSRUN_STORE_PORT must be an integer from 1 to 65535, got "70000"')
    expect(() => parseSetting('TSRUN_SEGMENT_BYTES', '512')).toThrow('TSRUN_SEGMENT_BYTES must be an integer >= 1024, got "512"')
  })
})

describe('reading once', () => {
  test('a value is parsed on first use and kept, per environment, until reset', () => {
    const env: Record<string, string> = { TSRUN_OP_TIMEOUT: '2' }
    expect(setting('TSRUN_OP_TIMEOUT', env)).toBe(2000)
    env.TSRUN_OP_TIMEOUT = '3'
    expect(setting('TSRUN_OP_TIMEOUT', env)).toBe(2000)
    expect(setting('TSRUN_OP_TIMEOUT', { TSRUN_OP_TIMEOUT: '4' })).toBe(4000)
    resetSettingsForTests()
    expect(setting('TSRUN_OP_TIMEOUT', env)).toBe(3000)
  })

  test('process.env too; a bad value throws every time it is asked for', () => {
    process.env.TSRUN_REDUCE_ALGORITHM = 'binomial'
    try {
      expect(algorithmSetting('reduce')).toBe('binomial')
      process.env.TSRUN_REDUCE_ALGORITHM = 'ordered'
      expect(algorithmSetting('reduce')).toBe('binomial')
      resetSettingsForTests()
      expect(algorithmSetting('reduce')).toBe('ordered')
    } finally {
      delete process.env.TSRUN_REDUCE_ALGORITHM
    }
    const env = { TSRUN_SHM: 'maybe' }
    expect(() => setting('TSRUN_SHM', env)).toThrow(UsageError)
    expect(() => setting('TSRUN_SHM', env)).toThrow(UsageError)
  })

  test('an algorithm variable of a collective the table does not know is a bug, said as one', () => {
    expect(() => algorithmSetting('allfoo')).toThrow(/TSRUN_ALLFOO_ALGORITHM is not in src\/settings.ts/)
  })
})

describe('docs/errors.md', () => {
  const doc = read('docs/errors.md')
  const errors = read('src/errors.ts')

  test('names every error code and every error class', () => {
    const codes = [...errors.matchAll(/\|\s*'(TSRUN_[A-Z_]+)'/g)].map((m) => m[1]!)
    const classes = [...errors.matchAll(/export class (\w+)/g)].map((m) => m[1]!)
    expect(codes.length).toBeGreaterThan(5)
    expect(classes).toContain('TsrunError')
    for (const code of codes) expect(doc, code).toContain(`\`${code}\``)
    const rows = tableRows(doc, 'class').map((r) => r[0]!.replace(/`/g, ''))
    for (const c of classes) expect(rows, c).toContain(c)
  })

  test('names the exit codes the launcher uses', () => {
    const rows = tableRows(doc, 'exit code').map((r) => r[0])
    for (const code of ['0', '1', '2', '124', '127']) expect(rows).toContain(code)
  })
})
