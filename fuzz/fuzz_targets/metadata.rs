//! An original's metadata, carried into the colorized copy: any bytes as its EXIF block must
//! give a block that reads back (or a warning), and any bytes as its XMP packet must give a
//! packet whose hued note reads back as the copy's provenance; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::metadata(data));
