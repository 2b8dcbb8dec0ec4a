#!/usr/bin/env bash
# Fails if a Go test named in SPEC.md §14 (the checklist, listed in tests/spec14_go_tests.txt)
# is cited by no test of this repository: each line of the checklist has a test that names it.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
total=0
while read -r name; do
  case "$name" in '' | '#'*) continue ;; esac
  total=$((total + 1))
  if ! grep -rqw --include=*.rs "$name" tests/tests std-backend/tests std-backend/src core/src sim; then
    echo "SPEC §14: no test names $name" >&2
    missing=$((missing + 1))
  fi
done < tests/spec14_go_tests.txt
echo "SPEC §14: $((total - missing)) of $total Go tests have a test naming them"
[ "$missing" -eq 0 ]
