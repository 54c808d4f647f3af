//! The `--files-from` reader over any bytes: paths, or one error naming a line, in bounded
//! memory; never a panic. The first byte picks NUL-separated (-0) or line mode.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, list)) = data.split_first() else { return };
    let mut errors = 0;
    for entry in hued::source::args::list_file(list, mode & 1 == 1) {
        match entry {
            Ok(path) => assert!(!path.as_os_str().is_empty() && path.as_os_str().len() <= hued::source::args::MAX_LIST_LINE),
            Err(e) => {
                errors += 1;
                assert!(e.to_string().contains("line "), "{e}");
            }
        }
    }
    assert!(errors <= 1, "reading stops at its first error");
});
