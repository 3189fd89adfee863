# shellcheck shell=bash
# One pinned npm package in a directory of the cache, for the tests that run a real client or
# server from npm (oidc.sh, altcha.sh). Meant to be *sourced*; defines `ensure_npm_package`.

# ensure_npm_package NAME VERSION DIR WHAT: installs NAME@VERSION into DIR/node_modules unless
# that version is there already; WHAT says which tests need it when node or npm is missing.
ensure_npm_package() {
  local name="$1" version="$2" dir="$3" what="$4"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    printf '==> node and npm are needed for %s (ensure_browser installs them)\n' "$what" >&2
    return 1
  fi
  local installed=""
  if [ -f "$dir/node_modules/$name/package.json" ]; then
    installed=$(node -p "require('$dir/node_modules/$name/package.json').version")
  fi
  if [ "$installed" != "$version" ]; then
    printf '==> installing %s@%s into %s\n' "$name" "$version" "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$name@$version" >&2 || return 1
  fi
}
