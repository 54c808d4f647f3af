//! User color hints ("this dress was red"): a point clicked, or a stroke drawn over a region,
//! with a color. They come from `--hint X,Y,#RRGGBB` and `--stroke "X1,Y1 X2,Y2 ...,#RRGGBB"`,
//! from a sidecar `<image>.hints.toml` beside a scan (`[[hint]]` and `[[stroke]]` tables), or
//! from the kiosk page. The pipeline gives them to the model as its hint planes
//! ([`crate::pipeline::hint_planes`]) and then spreads each over the region it falls in
//! ([`crate::pipeline::propagate`]).
//!
//! Coordinates are pixels of the photo as it is shown (after its EXIF orientation), origin at
//! the top-left corner.

use crate::color::{linear_rgb_to_lab, srgb_to_linear};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Most hints (points and strokes together) one photo may carry (more is a mistake, not a wish).
pub const MAX_HINTS: usize = 64;

/// Most points one stroke may have (the page thins a drawn stroke to a point every few pixels).
pub const MAX_STROKE_POINTS: usize = 512;

/// One color hint: a point, or a stroke (the points of a line drawn over a region, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// (column, row) in pixels of the upright photo: one for a point, two or more for a stroke.
    pub points: Vec<[u32; 2]>,
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

    /// A point: `X,Y,#RRGGBB`, e.g. `120,340,#b22222`.
    fn from_str(s: &str) -> Result<Hint, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [x, y, color] = parts[..] else {
            return Err(format!("hint {s:?}: expected X,Y,#RRGGBB (pixels from the top-left corner), e.g. 120,340,#b22222"));
        };
        let coord = |v: &str, name| v.parse::<u32>().map_err(|_| format!("hint {s:?}: {name} = {v:?} is not a pixel position"));
        Ok(Hint::point(coord(x, "X")?, coord(y, "Y")?, parse_color(color).map_err(|e| format!("hint {s:?}: {e}"))?))
    }
}

impl Hint {
    /// A hint at one point.
    pub fn point(x: u32, y: u32, rgb: [u8; 3]) -> Hint {
        Hint { points: vec![[x, y]], rgb }
    }

    /// Parses a stroke: its points as `X,Y` separated by spaces, then the color after a comma
    /// or a space: `"10,20 30,24 52,31,#b22222"`.
    pub fn parse_stroke(s: &str) -> Result<Hint, String> {
        let usage = || {
            format!(
                "stroke {s:?}: expected \"X1,Y1 X2,Y2 ...,#RRGGBB\" (points in pixels from the top-left corner, then the color), e.g. \"10,20 30,24 52,31,#b22222\""
            )
        };
        let text = s.trim();
        let split = text.rfind([',', ' ', '\t']).ok_or_else(usage)?;
        let (points_text, color) = (text[..split].trim(), &text[split + 1..]);
        let rgb = parse_color(color).map_err(|e| format!("stroke {s:?}: {e}"))?;
        let mut points = Vec::new();
        for pair in points_text.split_whitespace() {
            let (x, y) = pair.split_once(',').ok_or_else(usage)?;
            let coord = |v: &str| v.trim().parse::<u32>().map_err(|_| format!("stroke {s:?}: {v:?} is not a pixel position"));
            points.push([coord(x)?, coord(y)?]);
            if points.len() > MAX_STROKE_POINTS {
                return Err(format!("stroke {s:?}: more than {MAX_STROKE_POINTS} points"));
            }
        }
        if points.is_empty() {
            return Err(usage());
        }
        Ok(Hint { points, rgb })
    }

    /// Whether it is a stroke (more than one point).
    pub fn is_stroke(&self) -> bool {
        self.points.len() > 1
    }

    /// The hint's color in Lab (a, b).
    pub fn ab(&self) -> [f32; 2] {
        let lab = linear_rgb_to_lab(self.rgb.map(|c| srgb_to_linear(c as f32 / 255.0)));
        [lab[1], lab[2]]
    }

    /// Its points as `X,Y` separated by spaces, for messages.
    fn describe(&self) -> String {
        self.points.iter().map(|[x, y]| format!("{x},{y}")).collect::<Vec<_>>().join(" ")
    }
}

/// A hint has 1 to [`MAX_STROKE_POINTS`] points.
fn check_point_count(n: usize) -> Result<(), String> {
    if n == 0 || n > MAX_STROKE_POINTS {
        return Err(format!("a stroke has {n} points; 1 to {MAX_STROKE_POINTS} are accepted"));
    }
    Ok(())
}

/// Checks that every point of every hint lies on a `width` x `height` photo and that there
/// are not too many hints or stroke points.
pub fn check(hints: &[Hint], width: u32, height: u32) -> Result<(), String> {
    if hints.len() > MAX_HINTS {
        return Err(format!("{} hints given; at most {MAX_HINTS} are accepted", hints.len()));
    }
    hints.iter().try_for_each(|h| check_point_count(h.points.len()))?;
    match hints.iter().find(|h| h.points.iter().any(|&[x, y]| x >= width || y >= height)) {
        Some(h) if h.is_stroke() => Err(format!("stroke {} has a point outside the {width}x{height} photo", h.describe())),
        Some(h) => Err(format!("hint at {} lies outside the {width}x{height} photo", h.describe())),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarFile {
    /// A color photo of the same scene, relative to the sidecar's folder.
    #[serde(default)]
    reference: Option<PathBuf>,
    #[serde(default)]
    hint: Vec<SidecarHint>,
    #[serde(default)]
    stroke: Vec<SidecarStroke>,
}

/// What a scan's sidecar says: its hints, and the reference photo it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sidecar {
    /// Points, then strokes.
    pub hints: Vec<Hint>,
    /// A color reference photo for this scan, as written (relative to the sidecar's folder).
    pub reference: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarHint {
    x: u32,
    y: u32,
    color: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarStroke {
    points: Vec<[u32; 2]>,
    color: String,
}

/// Parses the text of a hints sidecar:
///
/// ```toml
/// reference = "church.jpg"   # optional: a color photo of the same scene (beside the sidecar)
///
/// [[hint]]
/// x = 120          # pixels from the left edge of the photo as shown
/// y = 340          # pixels from the top edge
/// color = "#b22222"
///
/// [[stroke]]       # a line drawn over a region: its points, in order
/// points = [[200, 80], [230, 96], [260, 90]]
/// color = "#4a7bd0"
/// ```
pub fn parse_sidecar(text: &str) -> Result<Vec<Hint>, String> {
    parse_sidecar_file(text).map(|s| s.hints)
}

/// Parses the text of a sidecar, its reference included (see [`parse_sidecar`]).
pub fn parse_sidecar_file(text: &str) -> Result<Sidecar, String> {
    let file: SidecarFile = toml::from_str(text).map_err(|e| e.message().trim().to_string())?;
    let reference = file.reference;
    let points = file.hint.into_iter().map(|h| Ok(Hint::point(h.x, h.y, parse_color(&h.color)?)));
    let strokes = file.stroke.into_iter().map(|s| {
        check_point_count(s.points.len())?;
        Ok(Hint { points: s.points, rgb: parse_color(&s.color)? })
    });
    Ok(Sidecar { hints: points.chain(strokes).collect::<Result<_, String>>()?, reference })
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

/// Reads `image`'s sidecar; no sidecar = no hints and no reference. An unreadable or
/// malformed sidecar is an error naming the sidecar. Its reference comes back anchored at the
/// sidecar's folder.
pub fn read_sidecar(image: &Path) -> Result<Sidecar, String> {
    let Some(path) = find_sidecar(image) else {
        return Ok(Sidecar::default());
    };
    let read = |path: &Path| -> std::io::Result<String> {
        use std::io::Read;
        // A sidecar is a few lines: anything over 1 MiB is not one.
        let mut text = String::new();
        crate::base::open_regular(path)?.take(1 << 20).read_to_string(&mut text)?;
        Ok(text)
    };
    let text = read(&path).map_err(|e| format!("hints sidecar {}: cannot read: {e}", path.display()))?;
    let mut sidecar = parse_sidecar_file(&text).map_err(|e| format!("hints sidecar {}: {e}", path.display()))?;
    if let Some(r) = sidecar.reference.as_mut().filter(|r| r.is_relative()) {
        *r = path.parent().unwrap_or(Path::new(".")).join(&*r);
    }
    Ok(sidecar)
}

/// What `image`'s sidecar gives when the command line gives no hints: its hints and reference,
/// where the model takes hints. Where it does not, the sidecar is not read (not even checked)
/// and the second value is a warning naming it. One rule for `hued colorize` and the daemon
/// (through `job::photo_extras`).
pub fn sidecar_for(image: &Path, model_takes_hints: bool, model_name: &str) -> Result<(Sidecar, Option<String>), String> {
    if model_takes_hints {
        return read_sidecar(image).map(|s| (s, None));
    }
    let warning = find_sidecar(image).map(|s| format!("hints sidecar {} ignored: model {model_name} takes no color hints", s.display()));
    Ok((Sidecar::default(), warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_hints() {
        assert_eq!("120,340,#b22222".parse::<Hint>().unwrap(), Hint::point(120, 340, [0xb2, 0x22, 0x22]));
        assert_eq!(" 1 , 2 , 00FF00".parse::<Hint>().unwrap(), Hint::point(1, 2, [0, 255, 0]));
        for bad in ["120,340", "a,2,#ffffff", "1,2,#fff", "1,2,#gggggg", "-1,2,#ffffff", "1,2,3,#ffffff"] {
            let e = bad.parse::<Hint>().unwrap_err();
            assert!(e.contains("hint"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_strokes() {
        let want = Hint { points: vec![[10, 20], [30, 24], [52, 31]], rgb: [0xb2, 0x22, 0x22] };
        assert_eq!(Hint::parse_stroke("10,20 30,24 52,31,#b22222").unwrap(), want);
        assert_eq!(Hint::parse_stroke("  10,20  30,24 52,31 #b22222 ").unwrap(), want);
        assert_eq!(Hint::parse_stroke("7,8,#000000").unwrap(), Hint::point(7, 8, [0; 3]));
        for bad in ["", "#b22222", "10,20 30,#b22222", "10,20 30,x,#b22222", "10,20 30,24", "10;20 30,24,#b22222"] {
            let e = Hint::parse_stroke(bad).unwrap_err();
            assert!(e.starts_with("stroke"), "{bad}: {e}");
        }
        let long = (0..=MAX_STROKE_POINTS).map(|i| format!("{i},0")).collect::<Vec<_>>().join(" ") + ",#ffffff";
        assert!(Hint::parse_stroke(&long).unwrap_err().contains("more than"));
    }

    #[test]
    fn parses_sidecars_and_rejects_bad_ones() {
        let hints = parse_sidecar("[[hint]]\nx = 3\ny = 4\ncolor = \"#102030\"\n\n[[hint]]\nx = 0\ny = 0\ncolor = \"ffffff\"\n").unwrap();
        assert_eq!(hints, vec![Hint::point(3, 4, [16, 32, 48]), Hint::point(0, 0, [255; 3])]);
        assert_eq!(parse_sidecar("").unwrap(), vec![]);
        assert!(parse_sidecar("[[hint]]\nx = 3\ncolor = \"#102030\"\n").unwrap_err().contains("y"));
        assert!(parse_sidecar("[[hint]]\nx = 3\ny = 1\ncolor = \"red\"\n").unwrap_err().contains("#RRGGBB"));
        assert!(parse_sidecar("[[hints]]\nx = 3\n").is_err());
        // Strokes come after the points, whatever the order in the file.
        let sidecar = "[[stroke]]\npoints = [[10, 20], [30, 24], [52, 31]]\ncolor = \"#b22222\"\n[[hint]]\nx = 1\ny = 2\ncolor = \"#000000\"\n";
        let stroke = Hint { points: vec![[10, 20], [30, 24], [52, 31]], rgb: [0xb2, 0x22, 0x22] };
        assert_eq!(parse_sidecar(sidecar).unwrap(), vec![Hint::point(1, 2, [0; 3]), stroke]);
        assert!(parse_sidecar("[[stroke]]\npoints = []\ncolor = \"#b22222\"\n").unwrap_err().contains("0 points"));
        assert!(parse_sidecar("[[stroke]]\npoints = [[1]]\ncolor = \"#b22222\"\n").is_err());
        assert!(parse_sidecar("[[stroke]]\npoints = [[1, 2]]\n").unwrap_err().contains("color"));
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
        assert!(check(&[Hint::point(9, 9, [0; 3])], 10, 10).is_ok());
        assert!(check(&[Hint::point(10, 9, [0; 3])], 10, 10).unwrap_err().contains("outside the 10x10"));
        assert!(check(&vec![Hint::point(0, 0, [0; 3]); MAX_HINTS + 1], 10, 10).is_err());
        let stroke = Hint { points: vec![[1, 1], [9, 9], [9, 10]], rgb: [0; 3] };
        assert!(check(&[stroke], 10, 10).unwrap_err().contains("stroke 1,1 9,9 9,10 has a point outside"));
        assert!(check(&[Hint { points: vec![], rgb: [0; 3] }], 10, 10).is_err());
    }
}
