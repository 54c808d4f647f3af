//! The page's routes, and only those: a fixed table of paths, no file serving, so no path can
//! reach the disk. Every reply is built here; `mod.rs` only moves bytes.

use super::jobs::{QueueFull, Stage, WebJobs, WebResult};
use super::latest::Latest;
use crate::hints;
use crate::pipeline::{probe_bytes, PipelineError};
use serde_json::json;
use std::io::Read;
use std::sync::Arc;

/// What the routes need.
pub(crate) struct Context {
    /// The uploads.
    pub jobs: Arc<WebJobs>,
    /// The daemon's newest result.
    pub latest: Latest,
    /// `[web] token`.
    pub token: Option<String>,
    /// Largest upload, in bytes.
    pub max_upload: u64,
    /// The `[colorize]` profile in effect: a reload replaces it (the model, the settings).
    pub profile: crate::job::CurrentProfile,
    /// Minutes a result is kept.
    pub keep_minutes: f64,
    /// Names the station answers to besides IP addresses and localhost: its host name and
    /// `web.allowed_hosts`, lowercase.
    pub host_names: Vec<String>,
}

impl Context {
    /// Pixel limit of the profile in effect, in megapixels.
    fn max_megapixels(&self) -> f64 {
        self.profile.get().settings.max_megapixels
    }

    /// Whether the model in effect takes hints (the page hides them otherwise).
    fn hints(&self) -> bool {
        self.profile.get().model.has_hints()
    }
}

/// A reply body: static, owned, or shared with the job store.
pub(crate) enum Body {
    /// A page or script compiled into the binary.
    Static(&'static [u8]),
    /// Made for this reply.
    Owned(Vec<u8>),
    /// A result's file or preview.
    Result(Arc<WebResult>, Part),
    /// A kiosk preview.
    Shared(Arc<Vec<u8>>),
}

/// Which bytes of a result.
#[derive(Clone, Copy)]
pub(crate) enum Part {
    /// The colorized file.
    File,
    /// Preview of the upload.
    Before,
    /// Preview of the result.
    After,
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Owned(v) => v,
            Body::Shared(v) => v,
            Body::Result(r, Part::File) => &r.bytes,
            Body::Result(r, Part::Before) => &r.before_jpeg,
            Body::Result(r, Part::After) => &r.after_jpeg,
        }
    }
}

/// A reply.
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body,
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply { status, content_type: "application/json", headers: vec![], body: Body::Owned(value.to_string().into_bytes()) }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": message.into() }))
    }

    /// A route failed unexpectedly (a bug); the server goes on.
    pub(crate) fn internal_error() -> Reply {
        Reply::error(500, "Internal error.")
    }

    fn text(status: u16, content_type: &'static str, text: String) -> Reply {
        Reply { status, content_type, headers: vec![("Cache-Control", "no-store".into())], body: Body::Owned(text.into_bytes()) }
    }

    fn asset(content_type: &'static str, bytes: &'static str) -> Reply {
        Reply { status: 200, content_type, headers: vec![], body: Body::Static(bytes.as_bytes()) }
    }

    fn jpeg(body: Body) -> Reply {
        Reply { status: 200, content_type: "image/jpeg", headers: vec![], body }
    }
}

/// The parts of a request the routes look at.
pub(crate) struct Incoming<'a> {
    /// GET, POST, ...
    pub method: &'a str,
    /// Path and query, as sent.
    pub url: &'a str,
    /// The Authorization header, if any.
    pub authorization: Option<&'a str>,
    /// Content-Length, if given.
    pub content_length: Option<u64>,
    /// The Host header (HTTP/1.1 requires one).
    pub host: Option<&'a str>,
    /// The Origin header a browser sends with cross-site and state-changing requests.
    pub origin: Option<&'a str>,
    /// The Content-Type header, if any.
    pub content_type: Option<&'a str>,
}

/// The body types a web page may send to another site without the browser asking first (an
/// HTML form's): the page itself sends the photo as the file it is, never as these.
fn is_form_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(essence.as_str(), "text/plain" | "multipart/form-data" | "application/x-www-form-urlencoded")
}

/// The host name of a Host header or an origin's authority, without the port.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest); // [::1]:8080
    }
    authority.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h)
}

/// Whether the API may answer a request for this Host. A web page on another site can make a
/// browser send requests to the station under a name it controls (DNS rebinding); those carry
/// that name as Host. The station is reached by IP address, as localhost, by its own host
/// name (or name.local), or by a name listed in `web.allowed_hosts`.
fn host_allowed(host: Option<&str>, ctx: &Context) -> bool {
    let Some(host) = host else { return false };
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || ctx.host_names.iter().any(|h| *h == name || format!("{h}.local") == name)
}

/// A state-changing request from a page of another origin (any web page the kiosk browser
/// visits can send a cross-site form POST) is refused: its Origin must be the station itself.
fn same_origin(req: &Incoming) -> bool {
    match (req.origin, req.host) {
        (None, _) => true, // not from a browser page (curl, a script), or a same-origin GET
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `attachment` with the name for every browser: an ASCII stand-in in `filename` (non-ASCII
/// letters become `_`) and the exact UTF-8 name in `filename*` (RFC 6266 / 5987), so that
/// "Großmutter été.jpg" downloads under its own name (a raw UTF-8 header value is refused).
pub(crate) fn content_disposition(name: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    // RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    const ATTR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR))
}

/// Compares without stopping at the first difference, so timing tells nothing about the token,
/// not even its length: both sides are hashed first and the digests compared in full.
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// Routes one request. `body` is read only by the upload route, and never past the limit.
pub(crate) fn handle(req: &Incoming, body: &mut dyn Read, ctx: &Context) -> Reply {
    let (path, query) = req.url.split_once('?').unwrap_or((req.url, ""));
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method;

    // The pages and their scripts carry no data: no token needed to load them.
    let asset = match path {
        "/" | "/index.html" => Some(Reply::asset("text/html; charset=utf-8", include_str!("assets/index.html"))),
        "/kiosk" => Some(Reply::asset("text/html; charset=utf-8", include_str!("assets/kiosk.html"))),
        "/app.js" => Some(Reply::asset("text/javascript; charset=utf-8", include_str!("assets/app.js"))),
        "/kiosk.js" => Some(Reply::asset("text/javascript; charset=utf-8", include_str!("assets/kiosk.js"))),
        "/style.css" => Some(Reply::asset("text/css; charset=utf-8", include_str!("assets/style.css"))),
        _ => None,
    };
    if path == "/metrics" {
        // For Prometheus: counters only, no photo or name (watched folders aside); no token.
        return if method == "GET" || method == "HEAD" {
            Reply::text(200, "text/plain; version=0.0.4; charset=utf-8", crate::metrics::global().render())
        } else {
            method_not_allowed("GET")
        };
    }
    if let Some(reply) = asset {
        return if method == "GET" || method == "HEAD" { reply } else { method_not_allowed("GET") };
    }
    if segments[0] != "api" {
        return Reply::error(404, "no such page");
    }
    if !host_allowed(req.host, ctx) {
        return Reply::error(421, "this station does not answer to that host name (add it to web.allowed_hosts)");
    }
    if !matches!(method, "GET" | "HEAD") && !same_origin(req) {
        return Reply::error(403, "requests from other web sites are refused");
    }
    if let Some(token) = &ctx.token {
        let given = req.authorization.and_then(|a| a.strip_prefix("Bearer ")).or(param("token"));
        if !given.is_some_and(|g| same_secret(g.trim(), token)) {
            return Reply::error(401, "this page needs its access token: open it with the address that includes ?token=...");
        }
    }
    match (method, &segments[1..]) {
        ("GET", ["info"]) => Reply::json(
            200,
            json!({ "hints": ctx.hints(), "max_upload_bytes": ctx.max_upload, "keep_minutes": ctx.keep_minutes,
                    "max_megapixels": ctx.max_megapixels(), "version": env!("CARGO_PKG_VERSION") }),
        ),
        ("POST", ["jobs"]) => upload(req, body, ctx, param("name").unwrap_or("photo"), &params),
        ("GET", ["jobs", id]) if is_id(id) => match ctx.jobs.status(id) {
            None => gone(),
            Some(s) => Reply::json(200, status_json(&s.stage, s.ahead)),
        },
        ("DELETE", ["jobs", id]) if is_id(id) => match ctx.jobs.remove(id) {
            true => Reply::json(200, json!({ "deleted": true })),
            false => gone(),
        },
        ("GET", ["jobs", id, part @ ("before.jpg" | "after.jpg")]) if is_id(id) => match ctx.jobs.result(id) {
            Some(r) => Reply::jpeg(Body::Result(r, if *part == "before.jpg" { Part::Before } else { Part::After })),
            None => not_ready(ctx, id),
        },
        ("GET", ["jobs", id, "download"]) if is_id(id) => match ctx.jobs.take_result(id) {
            Some(r) => {
                log::info!("web: result downloaded and dropped from memory");
                let disposition = content_disposition(&r.download_name);
                Reply { status: 200, content_type: r.mime, headers: vec![("Content-Disposition", disposition)], body: Body::Result(r, Part::File) }
            }
            None => not_ready(ctx, id),
        },
        ("GET", ["latest"]) => match ctx.latest.newest() {
            None => Reply::json(200, json!({ "seq": 0 })),
            Some(n) => {
                let name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let age = n.when.elapsed().map_or(0, |d| d.as_secs());
                Reply::json(200, json!({ "seq": n.seq, "original": name(&n.original), "colorized": name(&n.colorized), "age_seconds": age }))
            }
        },
        ("GET", ["latest", part @ ("before.jpg" | "after.jpg")]) => match ctx.latest.previews(super::jobs::PREVIEW_SIDE, ctx.max_megapixels()) {
            Ok((_, before, after)) => Reply::jpeg(Body::Shared(if *part == "before.jpg" { before } else { after })),
            Err(e) => Reply::error(404, e),
        },
        (_, ["info"] | ["jobs"] | ["latest"] | ["latest", _]) => method_not_allowed(if segments[1] == "jobs" { "POST" } else { "GET" }),
        (_, ["jobs", id, ..]) if is_id(id) => method_not_allowed("GET, DELETE"),
        _ => Reply::error(404, "no such page"),
    }
}

fn busy() -> Reply {
    let mut r = Reply::error(503, "Busy: too many photos are being colorized. Please try again in a moment.");
    r.headers.push(("Retry-After", "10".into()));
    r
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = Reply::error(405, format!("method not allowed here (allowed: {allow})"));
    r.headers.push(("Allow", allow.to_string()));
    r
}

fn gone() -> Reply {
    Reply::error(404, "no such photo: it was downloaded, deleted, or dropped after its time ran out")
}

/// A preview or download asked for before the result exists: why not.
fn not_ready(ctx: &Context, id: &str) -> Reply {
    match ctx.jobs.status(id).map(|s| s.stage) {
        None => gone(),
        Some(Stage::Failed { status, message }) => Reply::error(status, message),
        Some(_) => Reply::error(409, "not colorized yet"),
    }
}

fn status_json(stage: &Stage, ahead: usize) -> serde_json::Value {
    match stage {
        Stage::Queued => json!({ "state": "queued", "ahead": ahead }),
        Stage::Running => json!({ "state": "running", "ahead": 0 }),
        Stage::Done(r) => {
            json!({ "state": "done", "width": r.width, "height": r.height, "millis": r.millis as u64,
                                  "download_name": r.download_name, "type": r.mime, "bytes": r.bytes.len(), "reference": r.reference_note })
        }
        Stage::Failed { status, message } => {
            json!({ "state": "failed", "status": status, "error": message })
        }
    }
}

/// An upload; `params` are its query parameters, of which the options
/// ([`super::options::UploadOptions`]: `hint=X,Y,#RRGGBB`, `stroke=X1,Y1 X2,Y2 ...,#RRGGBB`,
/// `vividness=X`) travel with the job.
fn upload(req: &Incoming, body: &mut dyn Read, ctx: &Context, name: &str, params: &[(String, String)]) -> Reply {
    let limit = ctx.max_upload;
    let too_big = || Reply::error(413, format!("The file is larger than the limit of {} MB.", limit / 1_000_000));
    // "Colors from a photo": the reference's bytes come first in the body, `reference_bytes` of
    // them; each of the two files has the upload limit.
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let reference_len = match param("reference_bytes").map(|v| v.parse::<u64>()) {
        None => None,
        Some(Ok(n)) if n > limit => return Reply::error(413, format!("The reference photo is larger than the limit of {} MB.", limit / 1_000_000)),
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Reply::error(400, "reference_bytes: expected the reference photo's size in bytes"),
    };
    if reference_len.is_some() && !ctx.hints() {
        return Reply::error(400, "this model takes no color hints, so no colors from a reference photo");
    }
    let body_limit = limit + reference_len.unwrap_or(0);
    if req.content_length.is_some_and(|n| n > body_limit) {
        return too_big();
    }
    // From a browser (it sends Origin), only the page's own way of uploading; scripts (curl
    // --data-binary sends a form type by default) are not browsers and are judged on content.
    if req.origin.is_some() && req.content_type.is_some_and(is_form_type) {
        return Reply::error(415, "uploads are sent as the photo file itself, as the page sends them (not as a form)");
    }
    let Some(slot) = ctx.jobs.reserve() else { return busy() };
    let mut options = match super::options::UploadOptions::from_query(params) {
        Ok(o) if !o.hints.is_empty() && !ctx.hints() => return Reply::error(400, format!("this model takes no color hints ({} given)", o.hints.len())),
        Ok(o) => o,
        Err(e) => return Reply::error(400, e),
    };
    if let Err(bad) = ctx.profile.get().with_overrides(&options.overrides()) {
        return Reply::error(400, bad.to_string());
    }
    // Read into memory, never past the limits; nothing of an upload is written anywhere. A
    // reference photo first, exactly its announced size, then the photo: each its own buffer.
    let read_part = |body: &mut dyn Read, limit: u64| -> Result<Vec<u8>, std::io::Error> {
        let mut part = Vec::with_capacity(req.content_length.unwrap_or(0).min(limit) as usize);
        body.take(limit).read_to_end(&mut part)?;
        Ok(part)
    };
    if let Some(n) = reference_len {
        let reference = match read_part(body, n) {
            Ok(r) => r,
            Err(e) => return Reply::error(400, format!("the upload broke off: {e}")),
        };
        if (reference.len() as u64) < n || n == 0 {
            return Reply::error(400, format!("reference_bytes = {n}, but the upload holds only {} bytes: a reference and then the photo", reference.len()));
        }
        let reference_name = param("reference_name").unwrap_or("reference").to_string();
        if let Err(e) = probe_bytes(&reference, ctx.max_megapixels()) {
            return Reply::error(super::http_status(&e), format!("reference photo {reference_name}: {e}"));
        }
        options.reference = Some(super::options::ReferenceUpload { name: reference_name, bytes: reference });
    }
    let data = match read_part(body, limit + 1) {
        Ok(d) => d,
        Err(e) => return Reply::error(400, format!("the upload broke off: {e}")),
    };
    if data.len() as u64 > limit {
        return too_big();
    }
    match probe_bytes(&data, ctx.max_megapixels()) {
        Ok((_, w, h)) => {
            // An EXIF orientation may swap width and height: the exact check comes after
            // decoding; this one catches the plain mistakes before queueing.
            if let Err(e) = hints::check(&options.hints, w.max(h), w.max(h)) {
                return Reply::error(400, e);
            }
        }
        Err(e) => {
            let status = super::http_status(&e);
            let message = match e {
                PipelineError::Empty => "The upload is empty (0 bytes).".to_string(),
                e => format!("{name}: {e}"),
            };
            return Reply::error(status, message);
        }
    }
    match ctx.jobs.submit(slot, data, name.to_string(), options) {
        Ok((id, ahead)) => Reply::json(202, json!({ "id": id, "ahead": ahead })),
        Err(QueueFull) => busy(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_non_ascii_download_name_survives_in_the_header() {
        let h = super::content_disposition("Großmutter été-colorized.jpg");
        assert_eq!(h, "attachment; filename=\"Gro_mutter _t_-colorized.jpg\"; filename*=UTF-8''Gro%C3%9Fmutter%20%C3%A9t%C3%A9-colorized.jpg");
        assert!(hyper::header::HeaderValue::from_str(&h).is_ok(), "a valid header value");
    }
}
