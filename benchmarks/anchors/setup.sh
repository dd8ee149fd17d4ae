#!/usr/bin/env bash
# Make the anchors' own environment (benchmarks/.anchors-venv, git-ignored): HyperImpute 0.1.17 and miceforest 6.0.5
# with the pandas / scikit-learn / lightgbm they were made for. Benchmark-only: vaekit never imports any of it.
#   bash benchmarks/anchors/setup.sh            # then benchmarks/imputation_anchors.py finds it
#   ANCHORS_VENV=/elsewhere PYTHON=python3.11 bash benchmarks/anchors/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${ANCHORS_VENV:-$(dirname "$here")/.anchors-venv}"
python="${PYTHON:-python3}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"

"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)
# torch==...+cpu is found only as a local wheel (pip's find-links); PyPI has CUDA builds alone, never pulled here.
if ! "${pip[@]}" -r "$here/requirements.txt"; then
    echo "setup.sh: install failed. If pip found no torch==2.13.0+cpu, put that CPU wheel in a folder and rerun with" >&2
    echo "          PIP_FIND_LINKS=/that/folder (PyPI serves only multi-GB CUDA builds of torch)." >&2
    exit 1
fi
# hyperimpute declares jupyter, notebook, xgboost (with nvidia-nccl-cu12) and miracle-imputation (tensorflow):
# none is needed to impute (a plugin that fails to import is skipped), so it goes in without its declared deps;
# requirements.txt carries what it does import.
"${pip[@]}" --no-deps hyperimpute==0.1.17
# Refuse an environment whose anchors quietly return the column means (what pandas 3 does to hyperimpute 0.1.17).
"$venv/bin/python" "$here/run_anchor.py" --self-check
echo "anchors ready: $venv"
