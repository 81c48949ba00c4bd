#!/bin/bash
# Example Slurm batch job: tsrun inside an allocation starts one rank per task with srun.
#   sbatch -N 2 --ntasks-per-node 2 examples/slurm/job.sh
#SBATCH --job-name=tsrun-hello
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --time=00:05:00
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
# Same node and tsrun on every node (shared filesystem). No -np: the allocation decides.
npx tsrun examples/hello.ts
