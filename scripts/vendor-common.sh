# shellcheck shell=bash
# What scripts/vendor-altcha and scripts/vendor-tus share: fetching an npm package's tarball and
# recording the vendored files' SHA-256 in api/static/vendor/SHA256SUMS.txt, one block per
# package, which a unit test (`pages::assets`) checks the files against. Meant to be *sourced*;
# defines functions and runs nothing.

# vendor_pack NAME VERSION WORK: `npm pack`s NAME@VERSION into WORK and unpacks it in
# WORK/package (npm checks the tarball against the registry's integrity hash). Refuses a
# package whose licence is not MIT, so a licence change is looked at before it is vendored.
vendor_pack() {
  local name="$1" version="$2" work="$3"
  local tarball licence
  tarball=$(cd "$work" && npm pack --silent "$name@$version" | tail -n 1)
  tar -xzf "$work/$tarball" -C "$work"
  licence=$(node -p "require('$work/package/package.json').license")
  if [ "$licence" != "MIT" ]; then
    echo "$name@$version is licensed $licence, not MIT: check it before vendoring" >&2
    return 1
  fi
}

# vendor_record NAME VERSION SCRIPT FILE...: replaces NAME's block in SHA256SUMS.txt (a
# `# NAME@VERSION (npm, MIT): SCRIPT` line, then `<sha256>  <file>` for each FILE, paths under
# api/static/vendor/) in place, or appends it; every other package's block is left as it is.
vendor_record() {
  local name="$1" version="$2" script="$3"
  shift 3
  local vendor sums block
  vendor="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/api/static/vendor"
  sums="$vendor/SHA256SUMS.txt"
  block="$(mktemp)"
  {
    echo "# $name@$version (npm, MIT): $script"
    (cd "$vendor" && sha256sum "$@")
  } > "$block"
  touch "$sums"
  # A block runs from its `# NAME@` line to the next `# ` line.
  awk -v header="# $name@" -v block="$block" '
    function emit(  line) { while ((getline line < block) > 0) print line; done = 1 }
    /^# / { skip = (index($0, header) == 1); if (skip && !done) emit() }
    !skip { print }
    END { if (!done) emit() }
  ' "$sums" > "$sums.new"
  mv "$sums.new" "$sums"
  rm -f "$block"
}
