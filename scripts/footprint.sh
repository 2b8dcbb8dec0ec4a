#!/usr/bin/env bash
# Measures walfs-core's cost on a Cortex-M4: builds the `footprint` firmware (core/qemu) once per
# CRC table choice, prints its flash use (vector table + text + rodata + data) and its peak stack
# (painted stack, run in QEMU mps2-an386), and checks the budget of the default choice.
# Usage: scripts/footprint.sh        (from anywhere inside the repository)
# Needs: the thumbv7em-none-eabihf target, qemu-system-arm, and arm-none-eabi-size or llvm-size
# (it installs the llvm-tools rustup component when neither is there).
set -euo pipefail
cd "$(dirname "$0")/../core/qemu"

FLASH_BUDGET=$((24 * 1024))
STACK_BUDGET=$((4 * 1024))

if command -v arm-none-eabi-size >/dev/null 2>&1; then
  size_tool=arm-none-eabi-size
else
  sysroot_bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
  if [ ! -x "$sysroot_bin/llvm-size" ]; then
    rustup component add llvm-tools >/dev/null
  fi
  size_tool="$sysroot_bin/llvm-size"
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
elf="$target_dir/thumbv7em-none-eabihf/release/footprint"
status=0
printf '| CRC-32C table (features) | flash total | code (.text) | read-only data | peak stack |\n'
printf '| --- | ---: | ---: | ---: | ---: |\n'
for choice in "1 KiB table (default on Cortex-M)|" "slice-by-16 (crc-table-16)|crc-table-16" "no table (crc-no-table)|crc-no-table"; do
  label="${choice%%|*}"
  features="${choice#*|}"
  cargo build --release --quiet --bin footprint ${features:+--features "$features"}
  read -r flash text rodata < <("$size_tool" -A "$elf" | awk '
    $1 == ".vector_table" || $1 == ".data" { flash += $2 }
    $1 == ".text" { text = $2; flash += $2 }
    $1 == ".rodata" { rodata = $2; flash += $2 }
    END { print flash, text, rodata }')
  set +e
  timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf"
  code=$?
  set -e
  # Exit status 16..255: success, peak stack = (status - 15) * 16 bytes (see src/bin/footprint.rs).
  if [ "$code" -lt 16 ]; then
    echo "footprint firmware failed ($label): exit status $code" >&2
    exit 1
  fi
  stack=$(((code - 15) * 16))
  [ "$code" -eq 255 ] && stack_text=">= $stack B" || stack_text="$stack B"
  tenths=$(((flash * 10 + 512) / 1024))
  printf '| %s | %d B (%d.%d KiB) | %d B | %d B | %s |\n' "$label" "$flash" \
    $((tenths / 10)) $((tenths % 10)) "$text" "$rodata" "$stack_text"
  if [ -z "$features" ] && { [ "$flash" -gt "$FLASH_BUDGET" ] || [ "$stack" -gt "$STACK_BUDGET" ]; }; then
    status=1
  fi
done
echo
echo "profile: release (opt-level \"s\", fat LTO, codegen-units 1); flash includes cortex-m-rt's 1 KiB vector table"
if [ "$status" -ne 0 ]; then
  echo "the default CRC choice misses the budget of $FLASH_BUDGET B flash / $STACK_BUDGET B stack" >&2
fi
exit "$status"
