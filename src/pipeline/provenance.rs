//! Who made a colorized copy, and from what: the provenance every copy carries (in its XMP,
//! [`super::xmp`]) and that hued reads back ([`super::metadata::read_provenance`]) to tell its own
//! copies, and a copy of this photo from a copy of another.

/// Who made a colorized copy, and from what.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The model's name.
    pub model_name: String,
    /// sha256 of the model's ONNX file.
    pub model_sha256: String,
    /// sha256 of the original file's bytes.
    pub source_sha256: String,
    /// The original's absolute path, where it was a file (not an upload): with the hash, what
    /// tells a copy of this photo from a copy of another photo of the same name.
    pub source_path: Option<std::path::PathBuf>,
}

/// Bytes of a path kept as they are in the description; every other byte is %XX, so a path
/// holds no space, comma, semicolon or parenthesis there, and names that are not UTF-8 survive.
const PATH_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'.').remove(b'-').remove(b'_');

/// The marker every provenance description starts with.
pub const MARKER: &str = "AI-colorized by hued";

impl Provenance {
    /// The EXIF Software value: `hued <version>`.
    pub fn software() -> String {
        format!("hued {}", crate::VERSION)
    }

    /// The EXIF ImageDescription / TIFF ImageDescription text.
    pub fn description(&self) -> String {
        use std::os::unix::ffi::OsStrExt;
        let path = match &self.source_path {
            Some(p) => format!("; original path {}", percent_encoding::percent_encode(p.as_os_str().as_bytes(), PATH_KEEP)),
            None => String::new(),
        };
        format!(
            "{MARKER} {} (model {}, sha256 {}; original sha256 {}{path}). Colors are the model's guess, not historical fact.",
            crate::VERSION,
            self.model_name,
            self.model_sha256,
            self.source_sha256
        )
    }

    /// Reads the provenance back out of a description written by [`Provenance::description`].
    pub fn parse(description: &str) -> Option<Provenance> {
        use std::os::unix::ffi::OsStringExt;
        let rest = &description[description.find(MARKER)?..];
        let field = |key: &str| -> Option<String> {
            let start = rest.find(key)? + key.len();
            Some(rest[start..].split([',', ';', ')', ' ']).next()?.to_string())
        };
        let source_path =
            field("; original path ").map(|p| std::path::PathBuf::from(std::ffi::OsString::from_vec(percent_encoding::percent_decode_str(&p).collect())));
        Some(Provenance { model_name: field("(model ")?, model_sha256: field(", sha256 ")?, source_sha256: field("original sha256 ")?, source_path })
    }
}

/// A fresh EXIF ImageUniqueID (32 hex digits): the copy is another image than its original.
pub fn new_image_unique_id() -> String {
    crate::unique_hex::<16>().to_uppercase()
}
