//! What a colorized copy carries over from its original (EXIF, ICC) and what it adds: the
//! provenance that says it was colorized by hued, with which model, from which original.

pub use super::provenance::{new_image_unique_id, Provenance, MARKER};
use exif::{Field, In, Tag, Value};

/// The ICC profile to embed in an RGB output: the original's when it describes RGB. A gray
/// profile (common on gray scans) cannot describe color pixels, so the output is left
/// untagged, which viewers read as sRGB, the space hued writes.
pub fn icc_for_rgb_output(icc: Option<&[u8]>) -> Option<Vec<u8>> {
    let icc = icc?;
    (icc.len() > 20 && &icc[16..20] == b"RGB ").then(|| icc.to_vec())
}

/// An EXIF block for the colorized copy: the original's fields, its caption (ImageDescription)
/// and Software included, with orientation reset (the pixels are already upright) and a fresh
/// ImageUniqueID where the original had one; Software is hued's only where the original names
/// none. hued's provenance is
/// in the copy's XMP ([`super::xmp`]), not here: EXIF has no field for it but the caption. An
/// original block that cannot be parsed is dropped (the second value says why).
pub fn exif_for_output(original: Option<&[u8]>) -> (Vec<u8>, Option<String>) {
    let software = Provenance::software();
    let mut original_software = false;
    let mut original_unique_id = false;
    let mut fields: Vec<Field> = Vec::new();
    let mut little_endian = false;
    let mut warning = None;
    if let Some(raw) = original {
        match exif::Reader::new().read_raw(raw.to_vec()) {
            Ok(parsed) => {
                little_endian = parsed.little_endian();
                for f in parsed.fields() {
                    if f.ifd_num == In::PRIMARY && f.tag == Tag::Software {
                        original_software = true;
                    }
                    original_unique_id |= f.tag == Tag::ImageUniqueID;
                    if f.ifd_num != In::PRIMARY
                        || matches!(f.tag, Tag::Orientation | Tag::ImageUniqueID)
                        || matches!(f.tag, Tag::ExifIFDPointer | Tag::GPSInfoIFDPointer | Tag::InteropIFDPointer)
                        || matches!(f.tag, Tag::JPEGInterchangeFormat | Tag::JPEGInterchangeFormatLength)
                        || matches!(f.tag, Tag::StripOffsets | Tag::StripByteCounts | Tag::TileOffsets | Tag::TileByteCounts)
                        || matches!(f.tag, Tag::PixelXDimension | Tag::PixelYDimension)
                    {
                        continue;
                    }
                    fields.push(f.clone());
                }
            }
            Err(e) => warning = Some(format!("the original's EXIF block is unreadable ({e}) and was left out")),
        }
    }
    let mut ours = vec![Field { tag: Tag::Orientation, ifd_num: In::PRIMARY, value: Value::Short(vec![1]) }];
    if original_unique_id {
        // The copy is another image than its original: its own ID, where the original had one
        // (adding an Exif directory to a file that had none would want its required fields too).
        ours.push(Field { tag: Tag::ImageUniqueID, ifd_num: In::PRIMARY, value: Value::Ascii(vec![new_image_unique_id().into_bytes()]) });
    }
    if !original_software {
        ours.push(Field { tag: Tag::Software, ifd_num: In::PRIMARY, value: Value::Ascii(vec![software.into_bytes()]) });
    }
    let write = |fields: &[Field]| -> Result<Vec<u8>, exif::Error> {
        let mut writer = exif::experimental::Writer::new();
        for f in fields {
            writer.push_field(f);
        }
        let mut buf = std::io::Cursor::new(Vec::new());
        writer.write(&mut buf, little_endian)?;
        Ok(buf.into_inner())
    };
    let mut all = fields.clone();
    all.extend(ours.iter().cloned());
    match write(&all) {
        Ok(bytes) => (bytes, warning),
        Err(e) => {
            // Some field of the original could not be re-encoded: hued's fields alone.
            let mut ours = ours;
            if original_software {
                ours.push(Field { tag: Tag::Software, ifd_num: In::PRIMARY, value: Value::Ascii(vec![Provenance::software().into_bytes()]) });
            }
            let bytes = write(&ours).expect("hued's fields are always writable");
            (bytes, Some(format!("the original's EXIF could not be copied ({e}) and was left out")))
        }
    }
}

/// Largest TIFF whose provenance is read (see read_provenance).
const PROVENANCE_MAX_TIFF: u64 = 64 << 20;

/// Whether the file starts with a TIFF signature; leaves it at its start.
fn is_tiff(file: &mut std::fs::File) -> bool {
    use std::io::{Read, Seek};
    let mut head = [0u8; 4];
    let read = file.read_exact(&mut head).is_ok();
    file.rewind().is_ok() && read && (head == *b"II*\0" || head == *b"MM\0*")
}

/// Reads the provenance of an image file, if it is a colorized copy made by hued: from its XMP
/// (hued 0.2 and later), else from its EXIF ImageDescription (the copies of earlier versions).
pub fn read_provenance(path: &std::path::Path) -> Option<Provenance> {
    let mut file = crate::base::open_regular(path).ok()?;
    // The XMP packet: a TIFF's tag 700 read directly, by position, whatever the TIFF's size
    // (image's TIFF decoder gave none for hued's own copies); the others' through their decoder.
    let len = file.metadata().ok()?.len();
    let tiff = is_tiff(&mut file);
    let xmp = if tiff { crate::pipeline::decode::tiff_xmp(&file, len) } else { None };
    if let Some(note) = xmp.as_deref().and_then(crate::pipeline::xmp::hued_note) {
        return Provenance::parse(&note);
    }
    // A huge TIFF (or a hostile multi-GB one) without hued's XMP is not read further: the EXIF
    // reader takes a TIFF whole into memory.
    if tiff && len > PROVENANCE_MAX_TIFF {
        return None;
    }
    let mut decoder = image::ImageReader::new(std::io::BufReader::new(file)).with_guessed_format().ok()?.into_decoder().ok()?;
    use image::ImageDecoder;
    let xmp = xmp.or_else(|| decoder.xmp_metadata().ok().flatten());
    if let Some(note) = xmp.as_deref().and_then(crate::pipeline::xmp::hued_note) {
        return Provenance::parse(&note);
    }
    let exif = exif::Reader::new().read_raw(decoder.exif_metadata().ok().flatten()?).ok()?;
    match &exif.get_field(Tag::ImageDescription, In::PRIMARY)?.value {
        Value::Ascii(parts) => Provenance::parse(&String::from_utf8_lossy(parts.first()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov() -> Provenance {
        Provenance { model_name: "m1".into(), model_sha256: "ab12".into(), source_sha256: "cd34".into(), source_path: None }
    }

    #[test]
    fn provenance_round_trips_through_its_description() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(Provenance::parse(&prov().description()), Some(prov()));
        let odd = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/scans/box 1; (a),b/x\xff%20.tif"));
        let with_path = Provenance { source_path: Some(odd), ..prov() };
        assert_eq!(Provenance::parse(&with_path.description()), Some(with_path));
        assert_eq!(Provenance::parse("a plain description"), None);
    }

    #[test]
    fn broken_exif_is_replaced_by_hueds_fields_alone() {
        let (bytes, warning) = exif_for_output(Some(b"II*\0garbage"));
        assert!(warning.unwrap().contains("unreadable"));
        let parsed = exif::Reader::new().read_raw(bytes).unwrap();
        assert!(parsed.get_field(Tag::Software, In::PRIMARY).is_some());
    }

    #[test]
    fn gray_icc_profiles_are_not_put_on_color_pixels() {
        let mut gray = vec![0u8; 128];
        gray[16..20].copy_from_slice(b"GRAY");
        assert_eq!(icc_for_rgb_output(Some(&gray)), None);
        let mut rgb = gray.clone();
        rgb[16..20].copy_from_slice(b"RGB ");
        assert_eq!(icc_for_rgb_output(Some(&rgb)), Some(rgb.clone()));
    }
}
