# Shared by the Gilbreth job templates (sourced, not run). Expects the template to have set
# ACCOUNT, PARTITION, QOS, TIME, NODES, GPUS_PER_NODE, CPUS_PER_GPU, MEM_PER_GPU, JOB_NAME.
# shellcheck shell=bash

# sbatch runs a copy of the job script from slurmd's spool directory, so inside a job the checkout
# comes from VLA_REPO (exported at submission), never from the script's own path.
REPO="${VLA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
if [[ ! -f "$REPO/training/infra/gilbreth/common.sh" ]]; then
  echo "[gilbreth] VLA_REPO=$REPO is not a vla-lego checkout" >&2
  exit 2
fi
export VLA_REPO="$REPO"
if [[ -f "$REPO/.env" ]]; then
  set -a
  # shellcheck disable=SC1091
  source "$REPO/.env"
  set +a
fi
export VLA_SCRATCH_ROOT="${VLA_SCRATCH_ROOT:-${RCAC_SCRATCH:-$HOME/scratch}/vla-lego}"
export VLA_SIF="${VLA_SIF:-$VLA_SCRATCH_ROOT/containers/vla-lego.sif}"
export WANDB_MODE="${WANDB_MODE:-offline}"
export CUDA_DEVICE_ORDER="${CUDA_DEVICE_ORDER:-PCI_BUS_ID}"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$VLA_SCRATCH_ROOT/cache/torch_extensions}"

# Outside a job: submit this script to SLURM with the variables above (or print the command when
# DRY_RUN=1). Inside the job (SLURM_JOB_ID set) the caller goes on to launch the training.
submit_self() {
  local script="$1"
  shift
  if [[ -n "${SLURM_JOB_ID:-}" ]]; then
    return 0
  fi
  mkdir -p "$VLA_SCRATCH_ROOT/logs/slurm" 2>/dev/null || true
  local cmd=(sbatch
    --job-name="$JOB_NAME" --account="$ACCOUNT" --partition="$PARTITION" --qos="$QOS"
    --time="$TIME" --nodes="$NODES" --ntasks-per-node=1 --gpus-per-node="$GPUS_PER_NODE"
    --cpus-per-task="$((CPUS_PER_GPU * GPUS_PER_NODE))" --mem="$((MEM_PER_GPU * GPUS_PER_NODE))G"
    --output="$VLA_SCRATCH_ROOT/logs/slurm/%x-%j.out" --chdir="$REPO"
    --signal="B:USR1@${STOP_NOTICE_S:-300}" --requeue
    --export="ALL,VLA_REPO=$REPO" "$script" "$@")
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    printf '%q ' "${cmd[@]}"; echo
  else
    "${cmd[@]}"
  fi
  exit 0
}

# One task per node runs torchrun inside the container; torchrun starts GPUS_PER_NODE workers and
# meets the other nodes at a c10d rendezvous on the job's first node.
launch_torchrun() {
  local master_addr
  master_addr="$(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null | head -n 1 || true)"
  master_addr="${master_addr:-$(hostname)}"
  local port="${MASTER_PORT:-$((29500 + SLURM_JOB_ID % 1000))}"
  local inner=(torchrun
    --nnodes="$NODES" --nproc_per_node="$GPUS_PER_NODE"
    --rdzv_backend=c10d --rdzv_endpoint="$master_addr:$port" --rdzv_id="$SLURM_JOB_ID"
    -m vla_lego.train "$@")
  # Since Slurm 22.05 srun no longer inherits --cpus-per-task from the allocation: without this
  # torchrun, its ranks and their data-loader workers would share one core per node.
  export SRUN_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-$((CPUS_PER_GPU * GPUS_PER_NODE))}"
  local cmd=(srun --nodes="$NODES" --ntasks-per-node=1 --kill-on-bad-exit=1
    --cpus-per-task="$SRUN_CPUS_PER_TASK"
    bash "$REPO/scripts/apptainer-run.sh" "${inner[@]}")
  echo "[gilbreth] job $SLURM_JOB_ID: $NODES node(s) x $GPUS_PER_NODE GPU(s), rendezvous" \
    "$master_addr:$port" >&2
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    printf '%q ' "${cmd[@]}"; echo
    return 0
  fi
  # STOP_NOTICE_S before the time limit (sbatch --signal=B:USR1) the batch shell gets SIGUSR1:
  # srun passes a SIGTERM on to torchrun and its workers, the trainer saves a checkpoint after
  # the current step and exits (torchrun allows its workers 30 s), and the job is requeued; the
  # same run_name (the job id survives a requeue) resumes from that checkpoint.
  local stop=0 rc=0 pid
  trap 'stop=1; kill -TERM "$pid" 2>/dev/null || true' USR1
  "${cmd[@]}" &
  pid=$!
  while true; do
    wait "$pid" && rc=0 || rc=$?
    kill -0 "$pid" 2>/dev/null || break  # wait returned for the trap, not for srun's end
  done
  trap - USR1
  if ((stop)); then
    echo "[gilbreth] job $SLURM_JOB_ID: stopped before its time limit; requeueing" >&2
    scontrol requeue "$SLURM_JOB_ID"
  fi
  return "$rc"
}
