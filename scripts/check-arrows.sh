#!/usr/bin/env bash
# Fails if a workspace crate depends on another workspace crate that ARCHITECTURE.md §1
# does not allow (normal and build dependencies; dev-dependencies may add the plugin host
# to the DSL only).
#
#   ganglion (src/)       -> any crate below
#   ganglion-kernel       -> ganglion-plugins, ganglion-plugin-abi
#   ganglion-plugins      -> ganglion-plugin-abi
#   ganglion-dsl          -> ganglion-plugin-abi   (dev: ganglion-plugins)
#   ganglion-plugin-abi   -> nothing of ours
#   ganglion-gpu          -> nothing of ours
set -euo pipefail
cd "$(dirname "$0")/.."

allowed() {
  # allowed <from> <to> <kind>: kind is "normal", "build" or "dev".
  local from=$1 to=$2 kind=$3
  case "$from" in
    ganglion) return 0 ;;
    ganglion-kernel) [[ $to == ganglion-plugins || $to == ganglion-plugin-abi ]] ;;
    ganglion-plugins) [[ $to == ganglion-plugin-abi ]] ;;
    ganglion-dsl) [[ $to == ganglion-plugin-abi || ( $kind == dev && $to == ganglion-plugins ) ]] ;;
    *) return 1 ;;
  esac
}

metadata=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null || cargo metadata --format-version 1 --no-deps)
members=$(jq -r '.packages[].name' <<<"$metadata")
bad=0
while IFS=$'\t' read -r from to kind; do
  [[ -z $from ]] && continue
  if ! grep -qx "$to" <<<"$members"; then continue; fi
  if ! allowed "$from" "$to" "$kind"; then
    echo "check-arrows: $from may not depend on $to ($kind dependency); see ARCHITECTURE.md §1" >&2
    bad=1
  fi
done < <(jq -r '.packages[] | .name as $from | .dependencies[] | [$from, .name, (.kind // "normal")] | @tsv' <<<"$metadata")
if [[ $bad -ne 0 ]]; then
  exit 1
fi
echo "check-arrows: every dependency between our crates follows ARCHITECTURE.md §1"
