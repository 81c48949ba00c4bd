#!/bin/bash
# Example Slurm training job: data-parallel MNIST on every task of the allocation, with checkpoints, so that a
# requeued or resubmitted job continues from the latest one instead of starting over.
#   sbatch -N 2 --ntasks-per-node 2 examples/slurm/train.sh
#   CKPT=/scratch/me/mnist sbatch examples/slurm/train.sh --group-size 2   # extra arguments go to train.ts
#SBATCH --job-name=tsrun-mnist
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --time=00:30:00
#SBATCH --requeue
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
# Only rank 0 writes checkpoints, and it reads them back for everyone: the directory needs to be on rank 0's node.
CKPT=${CKPT:-checkpoints/mnist}
npx tsrun examples/mnist/train.ts --epochs 5 --checkpoint "$CKPT" --checkpoint-every 50 --resume "$@"
