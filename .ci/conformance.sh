#!/usr/bin/env bash
# Runs the MCP conformance suite (@modelcontextprotocol/conformance, pinned in .ci/npm)
# against `wassette serve --streamable-http`, the transport the suite tests. The suite
# calls test tools of its own; they come from a test component (test/testdata/conformance)
# loaded with the CLI, as a user would load any component. Scenarios that test features
# wassette does not offer are listed, each with its reason, in
# .ci/conformance-baseline.yml; any other failure, or a listed scenario that passes,
# fails this script.
#
# Needs: go, and npm (the suite needs Node 22, which .ci/clients.sh installs from npm
# without touching the system Node). Usage: bash .ci/conformance.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wassette-conformance.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf 'conformance.sh: %s\n' "$*" >&2; }

# shellcheck source=.ci/clients.sh
. "$ROOT/.ci/clients.sh"
ci_clients

log "building wassette and the conformance test component"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/wassette" .)
(cd "$ROOT" && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -o "$WORK/conformance.wasm" ./test/testdata/conformance)

export HOME="$WORK/home" XDG_DATA_HOME="$WORK/xdg/data" XDG_CONFIG_HOME="$WORK/xdg/config" XDG_CACHE_HOME="$WORK/xdg/cache"
export WASSETTE_DATA_DIR="$WORK/data"
mkdir -p "$HOME"
"$WORK/wassette" component load "$WORK/conformance.wasm" </dev/null >/dev/null

"$WORK/wassette" serve --streamable-http --bind 127.0.0.1:0 </dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
addr=
for _ in $(seq 1 600); do
	addr=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$WORK/server.log" | head -n1)
	[ -n "$addr" ] && break
	kill -0 "$SERVER_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$addr" ]; then
	cat "$WORK/server.log" >&2
	log "FAIL: the server did not start"
	exit 1
fi

log "running the conformance suite against http://$addr/mcp"
code=0
conformance server --url "http://$addr/mcp" --expected-failures "$ROOT/.ci/conformance-baseline.yml" \
	-o "$WORK/results" </dev/null >"$WORK/suite.log" 2>&1 || code=$?
sed -n '/=== SUMMARY ===/,$p' "$WORK/suite.log"
if [ "$code" != 0 ]; then
	cat "$WORK/suite.log" >&2
	log "FAIL: the conformance suite exited with $code (a failure not in .ci/conformance-baseline.yml, or a listed one that passes)"
	exit 1
fi
log "ok"
