#!/usr/bin/env bash
# Checks wassette with an MCP client we did not write: the MCP Inspector CLI, pinned in
# .ci/npm. Over `serve --stdio` it lists the tools and calls each one against a
# temporary data folder, asserting on the JSON the Inspector prints; then, over stdio,
# `serve --sse` and `serve --streamable-http`, it lists the tools and calls one in each
# protocol era the Inspector offers (legacy: initialize; modern: 2026-07-28; auto:
# whichever the server offers).
#
# Needs: go, npm (the Inspector runs on Node 22, which .ci/clients.sh installs from npm
# without touching the system Node), and jq (installed with apt-get if missing and
# possible; otherwise node checks the JSON). Works with CI=true and no stdin.
# Usage: bash .ci/inspector.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wassette-inspector.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
export CI=true

log() { printf 'inspector.sh: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# jq if present; else try apt-get (root, Debian); else node evaluates the checks.
# INSPECTOR_JSON_TOOL=node forces the fallback (to test it).
JSON_TOOL=${INSPECTOR_JSON_TOOL:-}
if [ -z "$JSON_TOOL" ] && ! command -v jq >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	log "installing jq"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; } >/dev/null 2>&1 ||
		log "could not install jq; using node for the JSON checks"
fi
if [ -z "$JSON_TOOL" ]; then
	if command -v jq >/dev/null 2>&1; then JSON_TOOL=jq; else JSON_TOOL=node; fi
fi

# shellcheck source=.ci/clients.sh
. "$ROOT/.ci/clients.sh"
ci_clients

log "building wassette"
(cd "$ROOT" && go build -o "$WORK/wassette" .)

# The Inspector and the server it starts get a throwaway HOME; all data goes to
# $WORK/data. Secrets are passed with --data-dir, since the Inspector gives a stdio
# server only a minimal environment.
mkdir -p "$WORK/home"
N=0
# inspect NAME EXPECTED_EXIT ARGS...: runs the Inspector CLI; output in $WORK/NAME.json.
inspect() {
	local name=$1 want=$2 code=0
	shift 2
	HOME="$WORK/home" mcp-inspector --cli \
		"$WORK/wassette" serve --stdio --data-dir "$WORK/data" \
		--format json -q "$@" </dev/null >"$WORK/$name.json" 2>"$WORK/$name.err" || code=$?
	if [ "$code" != "$want" ]; then
		cat "$WORK/$name.json" "$WORK/$name.err" >&2
		fail "$name: the Inspector exited with $code, want $want"
	fi
	N=$((N + 1))
}

# check NAME JQ_FILTER JS_EXPR: the filter (jq) or expression (node, over `r`) must be
# true of $WORK/NAME.json.
check() {
	local name=$1 jqf=$2 js=$3 ok
	if [ "$JSON_TOOL" = jq ]; then
		ok=$(jq -r "$jqf" "$WORK/$name.json")
	else
		ok=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(String(eval(process.argv[2])))' \
			"$WORK/$name.json" "$js")
	fi
	[ "$ok" = true ] || { cat "$WORK/$name.json" >&2; fail "$name: expected ${jqf}"; }
}

CANARY="sk-canary-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" # 26 characters
MASKED="${CANARY:0:3}***${CANARY: -3}"

log "tools/list"
inspect list 0 --method tools/list --strict
# The secret tools and the component and permission tools; no component is loaded yet.
check list '([.result.tools[].name]) as $n | ["delete-secret","list-secrets","set-secret","load-component","get-policy","grant-network-permission"] - $n == [] and ($n | length) == 15' \
	'["delete-secret","list-secrets","set-secret","load-component","get-policy","grant-network-permission"].every(n => r.result.tools.some(t => t.name === n)) && r.result.tools.length === 15'
check list 'all(.result.tools[]; (.annotations | [.readOnlyHint, .destructiveHint, .idempotentHint, .openWorldHint] | map(type) == ["boolean","boolean","boolean","boolean"]) and .outputSchema.type == "object" and (.annotations.title | length) > 0)' \
	'r.result.tools.every(t => ["readOnlyHint","destructiveHint","idempotentHint","openWorldHint"].every(h => typeof t.annotations[h] === "boolean") && t.outputSchema.type === "object" && t.annotations.title.length > 0)'
check list '(.result.tools[] | select(.name == "list-secrets") | .annotations.readOnlyHint) == true' \
	'r.result.tools.find(t => t.name === "list-secrets").annotations.readOnlyHint === true'
check list '(.result.tools[] | select(.name == "delete-secret") | .annotations.destructiveHint) == true' \
	'r.result.tools.find(t => t.name === "delete-secret").annotations.destructiveHint === true'

log "tools/call set-secret"
inspect set 0 --method tools/call --tool-name set-secret \
	--tool-arg component_id=weather key=API_KEY "value=$CANARY"
check set ".result.isError != true and .result.structuredContent.masked_value == \"$MASKED\" and .result.structuredContent.key == \"API_KEY\"" \
	"r.result.isError !== true && r.result.structuredContent.masked_value === '$MASKED' && r.result.structuredContent.key === 'API_KEY'"

log "tools/call list-secrets"
inspect list-secrets 0 --method tools/call --tool-name list-secrets --tool-arg component_id=weather
check list-secrets ".result.structuredContent.count == 1 and .result.structuredContent.secrets[0] == {\"key\":\"API_KEY\",\"masked_value\":\"$MASKED\"}" \
	"r.result.structuredContent.count === 1 && r.result.structuredContent.secrets[0].key === 'API_KEY' && r.result.structuredContent.secrets[0].masked_value === '$MASKED'"

log "the CLI sees the tool's change"
"$WORK/wassette" --data-dir "$WORK/data" secret list weather </dev/null | grep -q "^API_KEY: $(printf '%s' "$MASKED" | sed 's/[*]/[*]/g')\$" ||
	fail "wassette secret list does not show API_KEY"
"$WORK/wassette" --data-dir "$WORK/data" secret set weather FROM_CLI cli-value </dev/null >/dev/null
inspect list-after-cli 0 --method tools/call --tool-name list-secrets --tool-arg component_id=weather
check list-after-cli '[.result.structuredContent.secrets[].key] == ["API_KEY","FROM_CLI"]' \
	'JSON.stringify(r.result.structuredContent.secrets.map(s => s.key)) === JSON.stringify(["API_KEY","FROM_CLI"])'

log "tools/call delete-secret"
inspect delete 0 --method tools/call --tool-name delete-secret --tool-arg component_id=weather key=API_KEY
check delete '.result.structuredContent == {"component_id":"weather","key":"API_KEY","deleted":true}' \
	'r.result.structuredContent.deleted === true && r.result.structuredContent.key === "API_KEY"'

log "bad input is a tool error (the Inspector exits 5 on isError)"
inspect delete-missing 5 --method tools/call --tool-name delete-secret --tool-arg component_id=weather key=API_KEY
check delete-missing '.result.isError == true and (.result.content[0].text | contains("no secret \"API_KEY\""))' \
	'r.result.isError === true && r.result.content[0].text.includes("no secret \"API_KEY\"")'
inspect set-bad-key 5 --method tools/call --tool-name set-secret \
	--tool-arg component_id=weather "key=BAD=KEY" "value=$CANARY"
check set-bad-key '.result.isError == true and (.result.content[0].text | contains("invalid secret key"))' \
	'r.result.isError === true && r.result.content[0].text.includes("invalid secret key")'

# Each era of the Inspector on each transport: the tools, and a call.
# inspect_at NAME TARGET...: like inspect, with the target (a command or a URL) given.
inspect_at() {
	local name=$1 code=0
	shift
	HOME="$WORK/home" mcp-inspector --cli "$@" --format json -q </dev/null >"$WORK/$name.json" 2>"$WORK/$name.err" || code=$?
	if [ "$code" != 0 ]; then
		cat "$WORK/$name.json" "$WORK/$name.err" >&2
		fail "$name: the Inspector exited with $code"
	fi
	N=$((N + 1))
}
eras() { # TRANSPORT TARGET...
	local tr=$1 era
	shift
	for era in legacy auto modern; do
		log "$tr, era $era: tools/call list-secrets"
		inspect_at "$tr-$era-call" "$@" --protocol-era "$era" --method tools/call --tool-name list-secrets --tool-arg component_id=weather
		check "$tr-$era-call" '.result.isError != true and .result.structuredContent.component_id == "weather" and ([.result.structuredContent.secrets[].key] == ["FROM_CLI"])' \
			'r.result.isError !== true && r.result.structuredContent.component_id === "weather" && JSON.stringify(r.result.structuredContent.secrets.map(s => s.key)) === JSON.stringify(["FROM_CLI"])'
	done
	log "$tr: tools/list"
	inspect_at "$tr-list" "$@" --method tools/list
	check "$tr-list" '(.result.tools | length) == 15' 'r.result.tools.length === 15'
}
# serve_http FLAG: starts `wassette serve FLAG` on a free port; sets ADDR.
serve_http() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; fi
	"$WORK/wassette" serve "$1" --bind 127.0.0.1:0 --data-dir "$WORK/data" </dev/null 2>"$WORK/server$1.log" &
	SERVER_PID=$!
	ADDR=
	for _ in $(seq 1 600); do
		ADDR=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$WORK/server$1.log" | head -n1)
		[ -n "$ADDR" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$WORK/server$1.log" >&2
	fail "wassette serve $1 did not start"
}
eras stdio "$WORK/wassette" serve --stdio --data-dir "$WORK/data"
serve_http --sse
eras sse --transport sse --server-url "http://$ADDR/sse"
serve_http --streamable-http
eras streamable-http --transport http --server-url "http://$ADDR/mcp"

# The canary went through set-secret twice: it must not come back in any output.
if grep -rqF -- "$CANARY" "$WORK"/*.json "$WORK"/*.err; then
	fail "the secret value appears in the Inspector's output"
fi

log "ok: $N Inspector runs passed ($JSON_TOOL checked the JSON)"
