#!/usr/bin/env bash
# Builds wassette's test corpus of WASI 0.2 components (testdata/components) into OUT_DIR:
#   1. Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 (for the C components),
#      installed with apt-get when missing and we are root;
#   2. `npm ci` in testdata/components: the lockfile pins componentize-js 0.23.0, jco 1.35.0,
#      preview2-shim 0.26.1 and wizer 10.0.0 (skipped when node_modules already matches it);
#   3. `node build.mjs --out OUT_DIR`: every component, JS ones two at a time.
# The same node_modules serve the jco reference host (testdata/components/oracle/run.mjs).
# internal/cmtest runs this script when a test needs the corpus and WASSETTE_CORPUS_DIR is unset.
#
# Usage: bash .ci/corpus.sh OUT_DIR
# Exit status: 0 built; 1 a build failed; 2 usage; 3 a tool is missing and cannot be installed.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: bash .ci/corpus.sh OUT_DIR" >&2
	exit 2
fi
OUT=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/testdata/components"
log() { printf 'corpus.sh: %s\n' "$*" >&2; }
start=$(date +%s)

# 1. The C toolchain.
DEBS=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
missing=()
for p in "${DEBS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		log "missing Debian packages: ${missing[*]}; install them (apt-get install ${missing[*]}) and run again"
		exit 3
	fi
	log "installing ${missing[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The npm packages, exactly as locked.
for tool in node npm; do
	command -v "$tool" >/dev/null 2>&1 || { log "$tool is not installed; the corpus needs Node.js 20 or later and npm"; exit 3; }
done
want=$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)
stamp="$SRC/node_modules/.wassette-lock-sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
	log "npm ci in testdata/components"
	(cd "$SRC" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
	echo "$want" >"$stamp"
fi
installed=$(date +%s)

# 3. The components.
mkdir -p "$OUT"
node "$SRC/build.mjs" --out "$OUT" </dev/null
log "tools ready in $((installed - start)) s; corpus built in $(($(date +%s) - installed)) s, into $OUT"
