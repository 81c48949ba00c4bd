import { expect, test } from 'vitest'
import { exitCodeOf } from '../../../launcher/supervisor.ts'

test('exit code of a rank: its code, or 128 + signal number', () => {
  expect(exitCodeOf(0, null)).toBe(0)
  expect(exitCodeOf(3, null)).toBe(3)
  expect(exitCodeOf(null, 'SIGKILL')).toBe(137)
  expect(exitCodeOf(null, 'SIGINT')).toBe(130)
  expect(exitCodeOf(null, 'SIGTERM')).toBe(143)
})
