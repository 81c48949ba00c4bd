import { expect, test } from 'vitest'
import { placeLocal } from '../../../launcher/placement.ts'

test('local placement: every rank on this host, local rank = rank', () => {
  expect(placeLocal(3, 'h')).toEqual([
    { rank: 0, host: 'h', nodeRank: 0, localRank: 0, localSize: 3 },
    { rank: 1, host: 'h', nodeRank: 0, localRank: 1, localSize: 3 },
    { rank: 2, host: 'h', nodeRank: 0, localRank: 2, localSize: 3 },
  ])
})
