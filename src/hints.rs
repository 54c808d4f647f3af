//! User color hints ("this dress was red"): parsed from `--hint X,Y,#RRGGBB`, from a sidecar
//! `<image>.hints.toml` beside a scan, or from the kiosk page. The pipeline turns them into the
//! model's hint planes ([`crate::pipeline::hints`]).
//!
//! Coordinates are pixels of the photo as it is shown (after its EXIF orientation), origin at
//! the top-left corner.

use crate::color::{linear_rgb_to_lab, srgb_to_linear};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Most hints one photo may carry (more is a mistake, not a wish).
pub const MAX_HINTS: usize = 64;

/// One color hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// Column, in pixels of the upright photo.
    pub x: u32,
    /// Row, in pixels of the upright photo.
    pub y: u32,
    /// The color the user wants there, sRGB.
    pub rgb: [u8; 3],
}

/// Parses `#RRGGBB` (the `#` is optional).
pub fn parse_color(s: &str) -> Result<[u8; 3], String> {
    let hex = s.trim().trim_start_matches('#');
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not a color: expected #RRGGBB, e.g. #b22222"));
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex digits");
    Ok([byte(0), byte(2), byte(4)])
}

/// Formats a color as `#rrggbb`.
pub fn format_color(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

impl FromStr for Hint {
    type Err = String;

    /// `X,Y,#RRGGBB`, e.g. `120,340,#b22222`.
    fn from_str(s: &str) -> Result<Hint, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [x, y, color] = parts[..] else {
            return Err(format!("hint {s:?}: expected X,Y,#RRGGBB (pixels from the top-left corner), e.g. 120,340,#b22222"));
        };
        let coord = |v: &str, name| v.parse::<u32>().map_err(|_| format!("hint {s:?}: {name} = {v:?} is not a pixel position"));
        Ok(Hint { x: coord(x, "X")?, y: coord(y, "Y")?, rgb: parse_color(color).map_err(|e| format!("hint {s:?}: {e}"))? })
    }
}

impl Hint {
    /// The hint's color in Lab (a, b).
    pub fn ab(&self) -> [f32; 2] {
        let lab = linear_rgb_to_lab(self.rgb.map(|c| srgb_to_linear(c as f32 / 255.0)));
        [lab[1], lab[2]]
    }
}

/// Checks that every hint lies on a `width` x `height` photo and that there are not too many.
pub fn check(hints: &[Hint], width: u32, height: u32) -> Result<(), String> {
    if hints.len() > MAX_HINTS {
        return Err(format!("{} hints given; at most {MAX_HINTS} are accepted", hints.len()));
    }
    match hints.iter().find(|h| h.x >= width || h.y >= height) {
        Some(h) => Err(format!("hint at {},{} lies outside the {width}x{height} photo", h.x, h.y)),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarFile {
    #[serde(default)]
    hint: Vec<SidecarHint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarHint {
    x: u32,
    y: u32,
    color: String,
}

/// Parses the text of a hints sidecar:
///
/// ```toml
/// [[hint]]
/// x = 120          # pixels from the left edge of the photo as shown
/// y = 340          # pixels from the top edge
/// color = "#b22222"
/// ```
pub fn parse_sidecar(text: &str) -> Result<Vec<Hint>, String> {
    let file: SidecarFile = toml::from_str(text).map_err(|e| e.message().trim().to_string())?;
    file.hint.into_iter().map(|h| Ok(Hint { x: h.x, y: h.y, rgb: parse_color(&h.color)? })).collect()
}

/// Where a photo's hints sidecar may be: `photo.tif.hints.toml`, or `photo.hints.toml`.
pub fn sidecar_candidates(image: &Path) -> [PathBuf; 2] {
    let name = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = image.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    [image.with_file_name(format!("{name}.hints.toml")), image.with_file_name(format!("{stem}.hints.toml"))]
}

/// The sidecar that exists for `image`, if any.
pub fn find_sidecar(image: &Path) -> Option<PathBuf> {
    sidecar_candidates(image).into_iter().find(|p| p.is_file())
}

/// The image a sidecar belongs to, by name: `photo.tif.hints.toml` → `photo.tif`. None for a
/// file that is not a sidecar or a `photo.hints.toml` (whose image's extension is unknown).
pub fn image_of_sidecar(sidecar: &Path) -> Option<PathBuf> {
    let name = sidecar.file_name()?.to_str()?;
    let image = name.strip_suffix(".hints.toml")?;
    Path::new(image).extension()?;
    Some(sidecar.with_file_name(image))
}

/// Reads the hints for `image` from its sidecar; no sidecar = no hints. An unreadable or
/// malformed sidecar is an error naming the sidecar.
pub fn read_sidecar(image: &Path) -> Result<Vec<Hint>, String> {
    let Some(path) = find_sidecar(image) else {
        return Ok(Vec::new());
    };
    let read = |path: &Path| -> std::io::Result<String> {
        use std::io::Read;
        // A sidecar is a few lines: anything over 1 MiB is not one.
        let mut text = String::new();
        crate::pipeline::decode::open_regular(path)?.take(1 << 20).read_to_string(&mut text)?;
        Ok(text)
    };
    let text = read(&path).map_err(|e| format!("hints sidecar {}: cannot read: {e}", path.display()))?;
    parse_sidecar(&text).map_err(|e| format!("hints sidecar {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_hints() {
        assert_eq!("120,340,#b22222".parse::<Hint>().unwrap(), Hint { x: 120, y: 340, rgb: [0xb2, 0x22, 0x22] });
        assert_eq!(" 1 , 2 , 00FF00".parse::<Hint>().unwrap(), Hint { x: 1, y: 2, rgb: [0, 255, 0] });
        for bad in ["120,340", "a,2,#ffffff", "1,2,#fff", "1,2,#gggggg", "-1,2,#ffffff", "1,2,3,#ffffff"] {
            let e = bad.parse::<Hint>().unwrap_err();
            assert!(e.contains("hint"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_sidecars_and_rejects_bad_ones() {
        let hints = parse_sidecar("[[hint]]\nx = 3\ny = 4\ncolor = \"#102030\"\n\n[[hint]]\nx = 0\ny = 0\ncolor = \"ffffff\"\n").unwrap();
        assert_eq!(hints, vec![Hint { x: 3, y: 4, rgb: [16, 32, 48] }, Hint { x: 0, y: 0, rgb: [255; 3] }]);
        assert_eq!(parse_sidecar("").unwrap(), vec![]);
        assert!(parse_sidecar("[[hint]]\nx = 3\ncolor = \"#102030\"\n").unwrap_err().contains("y"));
        assert!(parse_sidecar("[[hint]]\nx = 3\ny = 1\ncolor = \"red\"\n").unwrap_err().contains("#RRGGBB"));
        assert!(parse_sidecar("[[hints]]\nx = 3\n").is_err());
    }

    #[test]
    fn sidecar_names() {
        let [a, b] = sidecar_candidates(Path::new("/scans/photo.tif"));
        assert_eq!(a, Path::new("/scans/photo.tif.hints.toml"));
        assert_eq!(b, Path::new("/scans/photo.hints.toml"));
        assert_eq!(image_of_sidecar(&a).unwrap(), Path::new("/scans/photo.tif"));
        assert_eq!(image_of_sidecar(&b), None);
        assert_eq!(image_of_sidecar(Path::new("/scans/photo.tif")), None);
    }

    #[test]
    fn checks_bounds_and_count() {
        assert!(check(&[Hint { x: 9, y: 9, rgb: [0; 3] }], 10, 10).is_ok());
        assert!(check(&[Hint { x: 10, y: 9, rgb: [0; 3] }], 10, 10).unwrap_err().contains("outside the 10x10"));
        assert!(check(&vec![Hint { x: 0, y: 0, rgb: [0; 3] }; MAX_HINTS + 1], 10, 10).is_err());
    }
}
