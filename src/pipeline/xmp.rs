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
//! namespace (whatever prefix the packet gives it: `xap:` in older Photoshop packets) and only
//! where they describe the file itself: as properties of a top-level rdf:Description, not
//! inside structures (a Photoshop Pantry keeps its items' own InstanceIDs and histories).

use super::provenance::Provenance;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

const RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/";
const XMP_MM: &[u8] = b"http://ns.adobe.com/xap/1.0/mm/";
const IPTC_EXT: &[u8] = b"http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
/// hued's own namespace, for its note and the original's hash.
const HUED: &[u8] = b"https://hued.invalid/ns/1.0/";

pub use crate::base::DIGITAL_SOURCE_TYPE;

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

/// Properties hued sets on every copy (namespace, local name): dropped from the original's
/// packet where they describe the file.
const REPLACED: &[(&[u8], &[u8])] =
    &[(IPTC_EXT, b"DigitalSourceType"), (XMP, b"CreatorTool"), (XMP_MM, b"InstanceID"), (XMP_MM, b"DerivedFrom"), (HUED, b"OriginalSHA256"), (HUED, b"Note")];

fn is(ns: &ResolveResult, local: &[u8], want_ns: &[u8], want_local: &[u8]) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.0 == want_ns) && local == want_local
}

fn replaced(ns: &ResolveResult, local: &[u8]) -> bool {
    REPLACED.iter().any(|(n, l)| is(ns, local, n, l))
}

/// Where an element sits in the packet, as far as hued cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// rdf:RDF.
    Rdf,
    /// An rdf:Description directly in rdf:RDF: its properties describe the file.
    TopDescription,
    /// xmpMM:History of the file.
    History,
    /// The rdf:Seq of that History.
    HistorySeq,
    /// A top-level property hued reads (xmpMM:DocumentID, xmpMM:InstanceID, hued:Note).
    Read(Reading),
    /// Anything else.
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    DocumentId,
    InstanceId,
    Note,
}

/// What the top level of a packet states: the original's identity and hued's note.
#[derive(Default)]
struct Statements {
    document_id: Option<String>,
    instance_id: Option<String>,
    /// The last hued:Note (hued's own description is the last one it writes).
    note: Option<String>,
}

/// Reads the statements a packet makes about the file itself, by namespace.
fn statements(text: &str) -> Statements {
    let mut found = Statements::default();
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Place> = Vec::new();
    let mut text = String::new();
    while let Ok((ns, event)) = reader.read_resolved_event() {
        let ns = ns.clone();
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_vec();
                let parent = stack.last().copied();
                let place = place_of(&ns, &local, parent);
                if place == Place::TopDescription {
                    for a in e.attributes().flatten() {
                        let (ans, alocal) = reader.resolve_attribute(a.key);
                        let value = a.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                        match reading(&ans, alocal.as_ref()) {
                            Some(Reading::DocumentId) => found.document_id = Some(value),
                            Some(Reading::InstanceId) => found.instance_id = Some(value),
                            Some(Reading::Note) => found.note = Some(value),
                            None => {}
                        }
                    }
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(place);
                    text.clear();
                }
            }
            // Text comes in pieces: quick-xml reports each entity (&apos;) as a reference.
            Event::Text(t) => {
                if let Some(Place::Read(_)) = stack.last() {
                    text.push_str(&t.decode().unwrap_or_default());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(Place::Read(_)) = stack.last() {
                    let name = r.decode().unwrap_or_default();
                    let entity = format!("&{name};");
                    text.push_str(&quick_xml::escape::unescape(&entity).map(|v| v.into_owned()).unwrap_or(entity));
                }
            }
            Event::End(_) => {
                if let Some(Place::Read(what)) = stack.pop() {
                    let value = std::mem::take(&mut text).trim().to_string();
                    match what {
                        Reading::DocumentId => found.document_id = Some(value),
                        Reading::InstanceId => found.instance_id = Some(value),
                        Reading::Note => found.note = Some(value),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

fn reading(ns: &ResolveResult, local: &[u8]) -> Option<Reading> {
    if is(ns, local, XMP_MM, b"DocumentID") {
        Some(Reading::DocumentId)
    } else if is(ns, local, XMP_MM, b"InstanceID") {
        Some(Reading::InstanceId)
    } else if is(ns, local, HUED, b"Note") {
        Some(Reading::Note)
    } else {
        None
    }
}

fn place_of(ns: &ResolveResult, local: &[u8], parent: Option<Place>) -> Place {
    match parent {
        _ if is(ns, local, RDF, b"RDF") => Place::Rdf,
        Some(Place::Rdf) if is(ns, local, RDF, b"Description") => Place::TopDescription,
        Some(Place::TopDescription) if is(ns, local, XMP_MM, b"History") => Place::History,
        Some(Place::TopDescription) => reading(ns, local).map_or(Place::Other, Place::Read),
        Some(Place::History) if is(ns, local, RDF, b"Seq") => Place::HistorySeq,
        _ => Place::Other,
    }
}

/// hued's note in a packet (the text of its top-level hued:Note), if any: where hued reads a
/// copy's provenance. Text elsewhere in the packet (a caption that quotes a note) is not read.
pub fn hued_note(xmp: &[u8]) -> Option<String> {
    statements(std::str::from_utf8(xmp).ok()?.trim_end_matches(['\0', ' ', '\n', '\r', '\t'])).note
}

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
fn our_description(f: &CopyFacts, original: &Statements, history: bool) -> String {
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

/// The copy's XMP packet: the original's (if it is well-formed XML with an rdf:RDF) with
/// hued's facts, else a new packet with hued's facts alone (the second value then says why the
/// original's was not kept).
pub fn xmp_for_output(original: Option<&[u8]>, facts: &CopyFacts) -> (Vec<u8>, Option<String>) {
    if let Some(raw) = original {
        match rewrite(raw, facts) {
            // The provenance must read back from the copy (it is how hued knows its copies):
            // a packet odd enough that it does not (found by fuzzing: attributes a reader takes
            // otherwise than the rewriter) is replaced as an unreadable one is.
            Ok(packet) if hued_note(&packet).is_some() => return (packet, None),
            Ok(_) => {
                let fresh = fresh_packet(facts);
                return (fresh, Some("the original's XMP could not be carried over readably; the copy has hued's XMP alone".to_string()));
            }
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
        our_description(f, &Statements::default(), true)
    )
    .into_bytes()
}

fn rewrite(raw: &[u8], facts: &CopyFacts) -> Result<Vec<u8>, String> {
    // A packet may end in NULs or padding after its trailer.
    let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?.trim_end_matches(['\0', ' ', '\n', '\r', '\t']);
    let found = statements(text);
    let mut reader = NsReader::from_str(text);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(text.len() + 2048));
    let mut stack: Vec<Place> = Vec::new();
    // Depth of a dropped subtree (0: not dropping); whether our History event went into the
    // original's History; whether our description went in.
    let (mut dropping, mut appended, mut placed) = (0usize, false, false);
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = ns.clone();
        if dropping > 0 {
            match event {
                Event::Start(_) => dropping += 1,
                Event::End(_) => dropping -= 1,
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        let event = match event {
            Event::Eof => break,
            // A DOCTYPE (entity definitions: a billion laughs) is not expanded here, and is not
            // passed on to the readers of the copy either.
            Event::DocType(_) => continue,
            Event::Start(e) => {
                let local = e.local_name().as_ref().to_vec();
                let parent = stack.last().copied();
                if parent == Some(Place::TopDescription) && replaced(&ns, &local) {
                    dropping = 1;
                    continue;
                }
                let place = place_of(&ns, &local, parent);
                stack.push(place);
                Event::Start(if place == Place::TopDescription { without_replaced_attributes(&reader, &e) } else { e.into_owned() })
            }
            Event::Empty(e) => {
                let local = e.local_name().as_ref().to_vec();
                let parent = stack.last().copied();
                if parent == Some(Place::TopDescription) && replaced(&ns, &local) {
                    continue;
                }
                let place = place_of(&ns, &local, parent);
                Event::Empty(if place == Place::TopDescription { without_replaced_attributes(&reader, &e) } else { e.into_owned() })
            }
            Event::End(e) => {
                match stack.pop() {
                    Some(Place::HistorySeq) if !appended => {
                        writer.get_mut().extend_from_slice(history_event(facts).as_bytes());
                        appended = true;
                    }
                    Some(Place::Rdf) if !placed => {
                        writer.get_mut().extend_from_slice(our_description(facts, &found, !appended).as_bytes());
                        placed = true;
                    }
                    _ => {}
                }
                Event::End(e)
            }
            other => other,
        };
        writer.write_event(event).map_err(|e| e.to_string())?;
    }
    if !placed {
        return Err("no rdf:RDF element".into());
    }
    Ok(writer.into_inner())
}

/// A top-level rdf:Description with the attributes hued replaces left out (simple properties
/// are often written as attributes: `xmp:CreatorTool="EPSON Scan"`).
fn without_replaced_attributes(reader: &NsReader<&[u8]>, e: &BytesStart) -> BytesStart<'static> {
    let mut out = BytesStart::new(String::from_utf8_lossy(e.name().as_ref()).into_owned());
    for a in e.attributes().with_checks(false).flatten() {
        let (ns, local) = reader.resolve_attribute(a.key);
        if !replaced(&ns, local.as_ref()) {
            out.push_attribute(a);
        }
    }
    out.into_owned()
}

/// A new InstanceID: `xmp.iid:` and 32 random hex digits.
pub fn new_instance_id() -> String {
    format!("xmp.iid:{}", super::provenance::new_image_unique_id().to_lowercase())
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

    /// Issue 37, row 12: a DOCTYPE in the original's packet (entity definitions) does not reach
    /// the copy's.
    #[test]
    fn a_doctype_in_the_original_packet_is_not_passed_on() {
        let original = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>image/jpeg</dc:format></rdf:Description>
</rdf:RDF></x:xmpmeta>"#;
        let p = prov();
        let (copy, warning) = xmp_for_output(Some(original), &facts(&p));
        let copy = String::from_utf8(copy).unwrap();
        assert!(!copy.contains("DOCTYPE") && !copy.contains("ENTITY"), "{copy}");
        assert!(copy.contains("image/jpeg"), "the original's statements stay: {copy} ({warning:?})");
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

    #[test]
    fn properties_are_known_by_namespace_and_only_where_they_describe_the_file() {
        // An older Photoshop packet (xap: prefixes) with a Pantry item that has its own
        // InstanceID and History.
        let original = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xap="http://ns.adobe.com/xap/1.0/" xmlns:xapMM="http://ns.adobe.com/xap/1.0/mm/" xap:CreatorTool="Photoshop CS" xapMM:InstanceID="uuid:top">
<xapMM:Pantry><rdf:Bag><rdf:li rdf:parseType="Resource"><xapMM:InstanceID>xmp.iid:PANTRY1</xapMM:InstanceID>
<xapMM:History><rdf:Seq><rdf:li>pantry event</rdf:li></rdf:Seq></xapMM:History></rdf:li></rdf:Bag></xapMM:Pantry>
<dc:description xmlns:dc="http://purl.org/dc/elements/1.1/">AI-colorized by hued 9 (model x, sha256 y; original sha256 z; original path /elsewhere.jpg)</dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let p = prov();
        let out = String::from_utf8(xmp_for_output(Some(original), &facts(&p)).0).unwrap();
        assert!(!out.contains("Photoshop CS") && !out.contains(r#"xapMM:InstanceID="uuid:top""#), "replaced whatever the prefix: {out}");
        assert!(out.contains("<stRef:instanceID>uuid:top</stRef:instanceID>"), "derived from the file's own InstanceID: {out}");
        assert!(out.contains("xmp.iid:PANTRY1") && out.contains("pantry event"), "the Pantry item is left as it was: {out}");
        assert!(!out.contains("pantry event</rdf:li><rdf:li"), "hued's event is not appended to the Pantry item's history: {out}");
        // The provenance is read from hued's own note only, not from a caption that quotes one.
        let note = hued_note(out.as_bytes()).unwrap();
        assert_eq!(Provenance::parse(&note).unwrap(), p);
        assert_eq!(hued_note(original), None);
    }
}
