//! The XMP packet of a colorized copy: everything the original's packet says, with hued's own
//! facts beside it. What the original says about itself (title, creator, rights, caption,
//! dates, its DocumentID) is kept; what describes this file and not the original is hued's:
//! the machine-readable AI label (IPTC Digital Source Type), the creator tool, a fresh
//! InstanceID, the derivation from the original and a History event.
//!
//! The original's packet is rewritten as a stream of XML events (quick-xml): the properties
//! hued sets are dropped from it wherever they are (as elements or as attributes of an
//! rdf:Description), the History event is appended to the original's history where it has one,
//! and one rdf:Description with hued's properties is added. Properties are recognized by their
//! usual prefixes (xmp, xmpMM, Iptc4xmpExt), as Adobe's and ExifTool's packets write them.

use super::metadata::Provenance;
use quick_xml::events::{BytesStart, Event};

/// IPTC's term for "edited using trained algorithmic media" (here: colors added by a model).
pub const DIGITAL_SOURCE_TYPE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";

/// XMP's namespace identifier, as in a JPEG APP1 segment.
pub const JPEG_XMP_HEADER: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// What hued writes about one copy.
pub struct CopyFacts<'a> {
    /// The provenance (model, original's hash and path).
    pub provenance: &'a Provenance,
    /// When the copy was made (ISO 8601, UTC).
    pub when: String,
    /// The copy's own InstanceID (`xmp.iid:` + random hex).
    pub instance_id: String,
    /// What was done, for the History event's parameters (model, vividness, hints).
    pub parameters: String,
}

/// Properties hued sets on every copy: dropped from the original's packet wherever they are.
const REPLACED: &[&str] = &["Iptc4xmpExt:DigitalSourceType", "xmp:CreatorTool", "xmpMM:InstanceID", "xmpMM:DerivedFrom", "hued:OriginalSHA256", "hued:Note"];

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// One History event (an rdf:li of xmpMM:History's rdf:Seq).
fn history_event(f: &CopyFacts) -> String {
    format!(
        "<rdf:li rdf:parseType=\"Resource\"><stEvt:action>derived</stEvt:action><stEvt:parameters>{}</stEvt:parameters>\
         <stEvt:softwareAgent>{}</stEvt:softwareAgent><stEvt:when>{}</stEvt:when><stEvt:instanceID>{}</stEvt:instanceID></rdf:li>",
        escape(&f.parameters),
        escape(&Provenance::software()),
        escape(&f.when),
        escape(&f.instance_id)
    )
}

/// hued's rdf:Description: `history` says whether it must carry the History too (the original
/// had none to append to).
fn our_description(f: &CopyFacts, original: &Originals, history: bool) -> String {
    let mut derived = String::new();
    if let Some(id) = &original.document_id {
        derived += &format!("<stRef:documentID>{}</stRef:documentID>", escape(id));
    }
    if let Some(id) = &original.instance_id {
        derived += &format!("<stRef:instanceID>{}</stRef:instanceID>", escape(id));
    }
    if let Some(path) = &f.provenance.source_path {
        derived += &format!("<stRef:filePath>{}</stRef:filePath>", escape(&path.to_string_lossy()));
    }
    let history = if history { format!("<xmpMM:History><rdf:Seq>{}</rdf:Seq></xmpMM:History>", history_event(f)) } else { String::new() };
    format!(
        "<rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmlns:xmpMM=\"http://ns.adobe.com/xap/1.0/mm/\" \
         xmlns:stRef=\"http://ns.adobe.com/xap/1.0/sType/ResourceRef#\" xmlns:stEvt=\"http://ns.adobe.com/xap/1.0/sType/ResourceEvent#\" \
         xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\" xmlns:hued=\"https://hued.invalid/ns/1.0/\">\
         <Iptc4xmpExt:DigitalSourceType>{DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>\
         <xmp:CreatorTool>{}</xmp:CreatorTool><xmpMM:InstanceID>{}</xmpMM:InstanceID>\
         <xmpMM:DerivedFrom rdf:parseType=\"Resource\">{derived}</xmpMM:DerivedFrom>\
         <hued:OriginalSHA256>{}</hued:OriginalSHA256><hued:Note>{}</hued:Note>{history}</rdf:Description>",
        escape(&Provenance::software()),
        escape(&f.instance_id),
        escape(&f.provenance.source_sha256),
        escape(&f.provenance.description()),
    )
}

/// What the original's packet says about its own identity.
#[derive(Default)]
struct Originals {
    document_id: Option<String>,
    instance_id: Option<String>,
}

/// The copy's XMP packet: the original's (if it is well-formed XML with an rdf:RDF) with
/// hued's facts, else a new packet with hued's facts alone (the second value then says why the
/// original's was not kept).
pub fn xmp_for_output(original: Option<&[u8]>, facts: &CopyFacts) -> (Vec<u8>, Option<String>) {
    if let Some(raw) = original {
        match rewrite(raw, facts) {
            Ok(packet) => return (packet, None),
            Err(reason) => {
                let fresh = fresh_packet(facts);
                return (fresh, Some(format!("the original's XMP could not be read ({reason}); the copy has hued's XMP alone")));
            }
        }
    }
    (fresh_packet(facts), None)
}

fn fresh_packet(f: &CopyFacts) -> Vec<u8> {
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\
         <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">{}</rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>",
        our_description(f, &Originals::default(), true)
    )
    .into_bytes()
}

/// Reads the text of simple properties the packet states about the original.
fn originals(text: &str) -> Originals {
    let mut found = Originals::default();
    let mut reader = quick_xml::Reader::from_str(text);
    let mut current: Option<String> = None;
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                for a in e.attributes().flatten() {
                    let value = a.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                    match a.key.as_ref() {
                        b"xmpMM:DocumentID" => found.document_id = Some(value),
                        b"xmpMM:InstanceID" => found.instance_id = Some(value),
                        _ => {}
                    }
                }
                current = Some(name);
            }
            Event::Text(t) => {
                let value = t.decode().map(|v| v.trim().to_string()).unwrap_or_default();
                match current.as_deref() {
                    Some("xmpMM:DocumentID") if !value.is_empty() => found.document_id = Some(value),
                    Some("xmpMM:InstanceID") if !value.is_empty() => found.instance_id = Some(value),
                    _ => {}
                }
            }
            Event::End(_) => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

fn rewrite(raw: &[u8], facts: &CopyFacts) -> Result<Vec<u8>, String> {
    // A packet may end in NULs or padding after its trailer.
    let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?.trim_end_matches(['\0', ' ', '\n', '\r', '\t']);
    let found = originals(text);
    let mut reader = quick_xml::Reader::from_str(text);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(text.len() + 2048));
    // Depth of a dropped subtree (0: not dropping); whether inside xmpMM:History; whether our
    // event was appended; whether our description went in.
    let (mut dropping, mut in_history, mut appended, mut placed) = (0usize, 0usize, false, false);
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match &event {
            Event::Eof => break,
            _ if dropping > 0 => {
                match event {
                    Event::Start(_) => dropping += 1,
                    Event::End(_) => dropping -= 1,
                    _ => {}
                }
                continue;
            }
            Event::Start(e) if REPLACED.contains(&&*String::from_utf8_lossy(e.name().as_ref())) => {
                dropping = 1;
                continue;
            }
            Event::Empty(e) if REPLACED.contains(&&*String::from_utf8_lossy(e.name().as_ref())) => continue,
            Event::Start(e) if e.name().as_ref() == b"xmpMM:History" => in_history = 1,
            Event::Start(_) if in_history > 0 => in_history += 1,
            Event::End(e) if in_history > 0 => {
                in_history -= 1;
                if in_history == 1 && e.name().as_ref() == b"rdf:Seq" && !appended {
                    writer.get_mut().extend_from_slice(history_event(facts).as_bytes());
                    appended = true;
                }
                if in_history == 0 && !appended {
                    // A History that was not a Seq (malformed): ours goes in our description.
                    in_history = 0;
                }
            }
            Event::End(e) if e.name().as_ref() == b"rdf:RDF" && !placed => {
                writer.get_mut().extend_from_slice(our_description(facts, &found, !appended).as_bytes());
                placed = true;
            }
            _ => {}
        }
        let event = match event {
            Event::Start(e) => Event::Start(without_replaced_attributes(&e)),
            Event::Empty(e) => Event::Empty(without_replaced_attributes(&e)),
            other => other,
        };
        writer.write_event(event).map_err(|e| e.to_string())?;
    }
    if !placed {
        return Err("no rdf:RDF element".into());
    }
    Ok(writer.into_inner())
}

/// The element with the attributes hued replaces left out (simple properties are often written
/// as attributes of rdf:Description: `xmp:CreatorTool="EPSON Scan"`).
fn without_replaced_attributes(e: &BytesStart) -> BytesStart<'static> {
    let mut out = BytesStart::new(String::from_utf8_lossy(e.name().as_ref()).into_owned());
    for a in e.attributes().with_checks(false).flatten() {
        if !REPLACED.contains(&&*String::from_utf8_lossy(a.key.as_ref())) {
            out.push_attribute(a);
        }
    }
    out.into_owned()
}

/// A new InstanceID: `xmp.iid:` and 32 random hex digits.
pub fn new_instance_id() -> String {
    format!("xmp.iid:{}", super::metadata::new_image_unique_id().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(p: &Provenance) -> CopyFacts<'_> {
        CopyFacts { provenance: p, when: "2026-12-06T03:00:00Z".into(), instance_id: "xmp.iid:new".into(), parameters: "model m1, vividness 1".into() }
    }

    fn prov() -> Provenance {
        Provenance { model_name: "m1".into(), model_sha256: "ab".into(), source_sha256: "cd".into(), source_path: Some("/scans/a & b.tif".into()) }
    }

    #[test]
    fn the_originals_statements_stay_and_hueds_replace_their_own_kind() {
        let original = br#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" xmp:CreatorTool="EPSON Scan" xmpMM:DocumentID="xmp.did:orig">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour, 1910</rdf:li></rdf:Alt></dc:title>
<xmpMM:InstanceID>xmp.iid:orig</xmpMM:InstanceID>
<xmpMM:History><rdf:Seq><rdf:li rdf:parseType="Resource"><stEvt:action>created</stEvt:action></rdf:li></rdf:Seq></xmpMM:History>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#;
        let p = prov();
        let (out, warning) = xmp_for_output(Some(original), &facts(&p));
        assert_eq!(warning, None);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("Harbour, 1910") && out.contains("xmp.did:orig"), "{out}");
        assert!(!out.contains("EPSON Scan") && !out.contains("<xmpMM:InstanceID>xmp.iid:orig<"), "replaced: {out}");
        assert!(out.contains("<stRef:instanceID>xmp.iid:orig</stRef:instanceID>") && out.contains("<stRef:documentID>xmp.did:orig</stRef:documentID>"));
        assert!(out.contains(DIGITAL_SOURCE_TYPE) && out.contains("a &amp; b.tif"));
        assert_eq!(out.matches("<xmpMM:History>").count(), 1, "one history, with both events: {out}");
        assert!(out.contains("<stEvt:action>created</stEvt:action>") && out.contains("<stEvt:action>derived</stEvt:action>"));
        // Well-formed.
        let mut r = quick_xml::Reader::from_str(&out);
        r.config_mut().check_end_names = true;
        while !matches!(r.read_event().unwrap(), Event::Eof) {}
    }

    #[test]
    fn no_packet_or_a_broken_one_gives_hueds_alone() {
        let p = prov();
        let (fresh, warning) = xmp_for_output(None, &facts(&p));
        assert!(warning.is_none() && String::from_utf8(fresh).unwrap().contains(DIGITAL_SOURCE_TYPE));
        let (fresh, warning) = xmp_for_output(Some(b"<x:xmpmeta><rdf:RDF><unclosed"), &facts(&p));
        assert!(warning.unwrap().contains("could not be read"));
        assert!(String::from_utf8(fresh).unwrap().contains("<xmpMM:History>"));
    }
}
