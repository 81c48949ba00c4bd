import { execFileSync } from 'node:child_process'
import { expect, test } from 'vitest'
import { fileLimit, fileLimitShortfall, launcherFileNeed, rankFileNeed } from '../../../src/native/file-limit.ts'

test("this process's limit on open files is read as the shell's ulimit reports it", () => {
  const soft = execFileSync('bash', ['-c', 'ulimit -Sn'], { encoding: 'utf8' }).trim()
  const limit = fileLimit()
  expect(limit).toBeDefined()
  expect(limit!.soft).toBe(soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft))
  expect(limit!.hard).toBeGreaterThanOrEqual(limit!.soft)
})

test('what ranks and the launcher need grows with the ranks of a host, not the job', () => {
  expect(rankFileNeed(1, false)).toBe(40)
  expect(rankFileNeed(64, false)).toBe(40 + 2 * 63)
  expect(rankFileNeed(4, true)).toBe(40 + 6 + 40) // a few links across hosts
  expect(launcherFileNeed(128)).toBe(40 + 3 * 128)
})

test('a shortfall is one line with the number to ask for; enough is no line', () => {
  expect(fileLimitShortfall({ soft: 1024, hard: 4096 }, 500, 'x')).toBeUndefined()
  expect(fileLimitShortfall(undefined, 500, 'x')).toBeUndefined()
  expect(fileLimitShortfall({ soft: 256, hard: 4096 }, 424, 'the launcher')).toBe(
    "the launcher needs about 424 open files, but the limit is 256; run 'ulimit -n 424' before tsrun",
  )
  expect(fileLimitShortfall({ soft: 256, hard: 256 }, 424, 'the launcher')).toMatch(/run 'ulimit -n 424' before tsrun \(raising the hard limit needs root/)
})
