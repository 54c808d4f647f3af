#!/usr/bin/env bash
# Regenerates the checked-in V4L2 bindings, exactly as upstream's build script did
# (bindgen 0.65 defaults on <linux/videodev2.h>), for each target hued ships.
# Needs what builds no longer need: libclang (apt install libclang-dev), bindgen's CLI
# (cargo install bindgen-cli --version 0.65.1) and, for aarch64, Debian's libc6-dev-arm64-cross.
# After regenerating, run `cargo test --test v4l2_bindings`: it checks every struct size and
# field offset in both files against the kernel headers with the C compiler.
set -euo pipefail
cd "$(dirname "$0")"
header=$(mktemp --suffix=.h); trap 'rm -f "$header"' EXIT
echo '#include <linux/videodev2.h>' >"$header"
bindgen "$header" -o src/x86_64.rs -- --target=x86_64-unknown-linux-gnu
bindgen "$header" -o src/aarch64.rs -- --target=aarch64-unknown-linux-gnu \
    --sysroot=/usr/aarch64-linux-gnu -I/usr/aarch64-linux-gnu/include
