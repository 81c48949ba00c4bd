// The native helpers build on this machine and load; a file mapped twice is one memory.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { native, nativeUnavailable } from '../../../src/native/native.ts'

test('the module builds (cc is on CI machines) and maps a file shared', () => {
  const n = native()
  expect(nativeUnavailable()).toBeUndefined()
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-native-'))
  try {
    const path = join(dir, 'f')
    const a = new Uint8Array(n!.mapShared(path, 8192, true))
    const b = new Uint8Array(n!.mapShared(path, 8192, false))
    a[8191] = 42
    expect(b[8191]).toBe(42)
    expect(() => n!.mapShared(path, 8192, true)).toThrow(/cannot create .*File exists/)
    expect(() => n!.mapShared(join(dir, 'missing'), 8192, false)).toThrow(/cannot open/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
