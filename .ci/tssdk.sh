#!/usr/bin/env bash
# Drives wassette with the official TypeScript SDK (pinned in .ci/npm) over stdio, SSE
# and streamable HTTP: tools/list, a component call, a slow call cancelled, ping. A
# cancelled call must get no answer (the SDK reports one as an error).
# Needs: go, npm (Node 22 via .ci/clients.sh). Usage: bash .ci/tssdk.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wassette-tssdk.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=.ci/clients.sh
. "$ROOT/.ci/clients.sh"
ci_clients
# ES modules resolve packages from the script's folder: run it from the clients' folder.
cp "$ROOT/.ci/tssdk.mjs" "$WASSETTE_CI_NPM/tssdk.mjs"

(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/wassette" .)
(cd "$ROOT" && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -o "$WORK/misbehave.wasm" ./component/runtime/testdata/misbehave)
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/xdg/data" XDG_CONFIG_HOME="$WORK/xdg/config" XDG_CACHE_HOME="$WORK/xdg/cache"
mkdir -p "$HOME"

node "$WASSETTE_CI_NPM/tssdk.mjs" stdio "$WORK/wassette" "$WORK/data-stdio" "$WORK/misbehave.wasm"
for tr in sse streamable-http; do
	"$WORK/wassette" serve --$tr --bind 127.0.0.1:0 --data-dir "$WORK/data-$tr" </dev/null 2>"$WORK/$tr.log" &
	SERVER_PID=$!
	addr=
	for _ in $(seq 1 600); do
		addr=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$WORK/$tr.log" | head -n1)
		[ -n "$addr" ] && break
		sleep 0.1
	done
	[ -n "$addr" ] || { cat "$WORK/$tr.log" >&2; echo "tssdk.sh: wassette serve --$tr did not start" >&2; exit 1; }
	if [ $tr = sse ]; then url="http://$addr/sse"; mode=sse; else url="http://$addr/mcp"; mode=http; fi
	node "$WASSETTE_CI_NPM/tssdk.mjs" $mode "$url" "$WORK/misbehave.wasm" || { cat "$WORK/$tr.log" >&2; exit 1; }
	kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done
