#!/usr/bin/env bash
# Set up everything mcn needs on a fresh Debian machine, idempotently:
# system packages (espeak-ng, sox, CJK fonts), .venv with mcn installed (llm-server, tts and dashboard extras), the
# offline whisper base model.
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v sox >/dev/null || need_apt+=(sox)
command -v chromium >/dev/null || need_apt+=(chromium)  # the sandbox's browser tests and Playwright publishers
command -v fc-list >/dev/null || need_apt+=(fontconfig)
{ command -v fc-list >/dev/null && fc-list :lang=zh family | grep -q "Noto Sans CJK SC"; } || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.12 python3.11 python3; do
    if "$cand" -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11+ is required" >&2; exit 1; }

stamp=.venv/.mcn-installed
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/mcn ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv and installing mcn"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip uv
  # llm-server: the local model server that tests/test_llm_real_model.py runs the openai backend against;
  # tts: Piper and its bundled English voice for remix voice-overs (tests/test_remix_tts.py);
  # dashboard: Streamlit for `mcn dashboard` (tests/test_dashboard.py).
  # --compile-bytecode: every test and CLI subprocess imports Prefect, SQLAlchemy and friends from cached bytecode
  # (import prefect: 1.2 CPU s instead of 2.9) even where PYTHONDONTWRITEBYTECODE keeps Python from caching it.
  .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -e ".[dev,llm-server,tts,dashboard]"
  echo "$want" > "$stamp"
fi

# The project's own modules too (incremental: only changed files are recompiled; __pycache__ is git-ignored).
.venv/bin/python -m compileall -q -j 0 mcn clipper flows accounts publisher analytics sandbox remix alliance console \
  > /dev/null || true

.venv/bin/mcn models install
