//! Raw V4L2 bindings: upstream v4l2-sys-mit 0.3.0 with bindgen's output checked in, one file
//! per target we ship, so that building hued needs no libclang (see README.md beside this file).
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
include!("x86_64.rs");

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
include!("aarch64.rs");

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("no pre-generated V4L2 bindings for this target: run vendor/v4l2-sys-mit/regenerate.sh with its target triple");
