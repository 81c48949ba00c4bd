// The public API, name by name (vitest's exports.test.ts): a name cannot vanish or appear by accident.
import { expect, test } from 'vitest'
import * as dl from '../../src/dl/index.ts'
import * as tsrun from '../../src/index.ts'

test('tsrun exports', () => {
  expect(Object.keys(tsrun).sort()).toEqual([
    'ANY_SOURCE',
    'ANY_TAG',
    'BFloat16Bits',
    'CollectiveMismatchError',
    'Communicator',
    'FinalizedError',
    'Float16Bits',
    'MAX_TAG',
    'PROC_NULL',
    'PeerLostError',
    'RendezvousError',
    'Request',
    'TimeoutError',
    'TransportError',
    'TsrunError',
    'UsageError',
    'WorldCommunicator',
    'defineOp',
    'fromHalf',
    'init',
    'timeline',
    'toHalf',
  ])
})

test('tsrun/dl exports', () => {
  expect(Object.keys(dl).sort()).toEqual([
    'DEFAULT_BUCKET_BYTES',
    'DistributedOptimizer',
    'ProgressBar',
    'allVariables',
    'arrayDataset',
    'averageMetrics',
    'backendInfo',
    'batchCount',
    'broadcastVariables',
    'epochBatches',
    'evaluateDistributed',
    'fitDistributed',
    'gatherRows',
    'listCheckpoints',
    'permutation',
    'prefetch',
    'restoreCheckpoint',
    'saveCheckpoint',
    'seededRandom',
    'shardDataset',
    'shardIndices',
    'tf',
    'trainableVariables',
  ])
})

test('every public method of Communicator is still there', () => {
  const methods = (proto: object): string[] =>
    proto === Object.prototype ? [] : [...Object.getOwnPropertyNames(proto), ...methods(Object.getPrototypeOf(proto))]
  const names = new Set(methods(tsrun.WorldCommunicator.prototype))
  for (const m of [
    'send',
    'recv',
    'sendObject',
    'recvObject',
    'barrier',
    'broadcast',
    'reduce',
    'allreduce',
    'gather',
    'allgather',
    'scatter',
    'reduceScatter',
    'alltoall',
    'broadcastObject',
    'gatherObject',
    'allgatherObject',
    'scatterObject',
    'allreduceObject',
    'split',
    'dup',
    'free',
    'finalize',
    // Completeness against mpi4py, gloo and Horovod (#14)
    'allgatherv',
    'gatherv',
    'scatterv',
    'alltoallv',
    'reduceScatterv',
    'scan',
    'exscan',
    'groupedAllreduce',
    'reduceObject',
    'alltoallObject',
    'scanObject',
    'exscanObject',
    'probe',
    'iprobe',
    'sendrecv',
    'sendrecvReplace',
    'sendrecvObject',
    'isend',
    'irecv',
    'isendObject',
    'irecvObject',
    'ibarrier',
    'ibroadcast',
    'iallreduce',
    'ireduce',
    'iallgather',
    'join',
    'igather',
    'iscatter',
    'ialltoall',
    'ireduceScatter',
    'iallgatherv',
    'ialltoallv',
    'iscan',
    'iexscan',
    'splitShared',
  ]) {
    expect(names, m).toContain(m)
  }
})
