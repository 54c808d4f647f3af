//! The kiosk page's HTTP routes, against the real daemon (`hued run` with `[web]`), over real
//! sockets: every route, every bad input, the bounded queue, the token, expiry, and that
//! nothing of an upload reaches the disk.

use crate::common;

use crate::common::*;
use hued::pipeline::metadata::read_provenance;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    log: PathBuf,
    base: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts `hued run` with `[web]` on a free port plus `extra` config, in a folder whose
    /// TMPDIR and working directory start empty.
    fn start(extra: &str) -> Server {
        Server::start_with(extra, &fixture_model())
    }

    fn start_with_env(extra: &str, env: &[(&str, &str)]) -> Server {
        Server::launch(extra, &fixture_model(), env)
    }

    fn start_with(extra: &str, model: &Path) -> Server {
        Server::launch(extra, model, &[])
    }

    fn launch(extra: &str, model: &Path, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        for d in ["state", "tmp", "cwd", "watch"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let config = dir.path().join("hued.toml");
        // "web.x = 1" and "colorize.x = 1" lines go into those sections; the rest at the end.
        let section = |prefix: &str| -> String { extra.lines().filter_map(|l| l.strip_prefix(prefix)).map(|l| format!("{l}\n")).collect() };
        let (web_extra, colorize_extra) = (section("web."), section("colorize."));
        let other: String = extra.lines().filter(|l| !l.starts_with("web.") && !l.starts_with("colorize.")).map(|l| format!("{l}\n")).collect();
        std::fs::write(
            &config,
            format!(
                "[colorize]\nmodel = \"{}\"\n{colorize_extra}\n[daemon]\nstate_dir = \"{}\"\nstability_delay = 0.3\n\n{other}\n[web]\nenabled = true\nlisten = \"127.0.0.1:0\"\n{web_extra}",
                model.display(),
                dir.path().join("state").display(),
            ),
        )
        .unwrap();
        let log = dir.path().join("hued.log");
        let child = Command::new(assert_cmd::cargo::cargo_bin("hued"))
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(dir.path().join("cwd"))
            .env("TMPDIR", dir.path().join("tmp"))
            .env("RUST_LOG", "debug,notify=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(i) = text.find("kiosk page at http://") {
                let rest = &text[i + "kiosk page at ".len()..];
                break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
            }
            assert!(Instant::now() < deadline, "the web server did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, log, base, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, path: &str) -> Reply {
        reply(ureq::get(&self.url(path)).call())
    }

    fn upload(&self, name: &str, bytes: &[u8], query: &str) -> Reply {
        reply(ureq::post(&self.url(&format!("/api/jobs?name={name}{query}"))).send_bytes(bytes))
    }

    /// Uploads and waits until the job is done or failed; returns (id, final status JSON).
    fn colorize(&self, name: &str, bytes: &[u8], query: &str) -> (String, serde_json::Value) {
        let r = self.upload(name, bytes, query);
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s = self.get(&format!("/api/jobs/{id}")).json();
            if s["state"] == "done" || s["state"] == "failed" {
                return (id, s);
            }
            assert!(Instant::now() < deadline, "job did not finish: {s}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Files under the daemon's TMPDIR and working folder (there should be none).
    fn stray_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for d in ["tmp", "cwd"] {
            let mut stack = vec![self.dir.path().join(d)];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(dir).unwrap().flatten() {
                    if e.path().is_dir() {
                        stack.push(e.path());
                    } else {
                        found.push(e.path());
                    }
                }
            }
        }
        found
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn reply(r: Result<ureq::Response, ureq::Error>) -> Reply {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = resp.status();
    let headers = resp.headers_names().into_iter().map(|n| (n.clone(), resp.header(&n).unwrap_or("").to_string())).collect();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    Reply { status, headers, body }
}

/// A request sent byte for byte, for paths an HTTP client would tidy up.
fn raw_get(base: &str, path: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn gray_jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(image::DynamicImage::ImageLuma8(gray_photo(w, h)), image::ImageFormat::Jpeg)
}

#[test]
fn pages_and_scripts_are_served_and_nothing_else() {
    let s = Server::start("");
    for (path, kind) in [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/kiosk", "text/html"),
        ("/app.js", "text/javascript"),
        ("/kiosk.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with(kind), "{path}: {:?}", r.header("content-type"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    let page = s.get("/").text();
    assert!(page.contains("never saved"), "the page says in one sentence that nothing is kept");
    assert!(!page.contains("http://") && !page.contains("https://"), "no external assets");
    assert_eq!(reply(ureq::post(&s.url("/")).send_bytes(b"x")).status, 405);
    assert_eq!(reply(ureq::put(&s.url("/api/jobs")).send_bytes(b"x")).status, 405);
    for path in ["/nope", "/api/nope", "/static/app.js", "/models/hued-color-v4-int8.onnx", "/api/jobs/ZZZ", "/api/jobs/0123456789abcdef0123456789abcdef"] {
        assert_eq!(s.get(path).status, 404, "{path}");
    }
    // Traversal, sent raw: no file is ever served.
    for path in ["/../Cargo.toml", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd", "/app.js/../../etc/passwd", "//etc/passwd"]
    {
        let r = raw_get(&s.base, path);
        assert!(r.starts_with("HTTP/1.1 404"), "{path}: {}", r.lines().next().unwrap_or(""));
        assert!(!r.contains("root:") && !r.contains("[package]"), "{path}");
    }
    let info = s.get("/api/info").json();
    assert_eq!(info["hints"], true);
    assert_eq!(info["max_upload_bytes"], 50_000_000);
    assert_eq!(info["keep_minutes"], 10.0);
}

#[test]
fn upload_colorize_preview_download_then_gone_in_each_format() {
    let s = Server::start("");
    let cases = [
        ("scan.jpg", gray_jpeg(300, 200), image::ImageFormat::Jpeg, "scan-colorized.jpg"),
        ("scan.png", encode(image::DynamicImage::ImageLuma16(gray16_photo(160, 120)), image::ImageFormat::Png), image::ImageFormat::Png, "scan-colorized.png"),
        (
            "scan.tif",
            encode(image::DynamicImage::ImageLuma16(gray16_photo(160, 120)), image::ImageFormat::Tiff),
            image::ImageFormat::Tiff,
            "scan-colorized.tif",
        ),
    ];
    for (name, bytes, format, download) in cases {
        let (id, status) = s.colorize(name, &bytes, "");
        assert_eq!(status["state"], "done", "{name}: {status}");
        assert_eq!(status["download_name"], download);
        for part in ["before.jpg", "after.jpg"] {
            let r = s.get(&format!("/api/jobs/{id}/{part}"));
            assert_eq!((r.status, r.header("content-type")), (200, Some("image/jpeg")), "{name} {part}");
            image::load_from_memory(&r.body).unwrap();
        }
        let r = s.get(&format!("/api/jobs/{id}/download"));
        assert_eq!(r.status, 200);
        assert!(r.header("content-disposition").unwrap().starts_with(&format!("attachment; filename=\"{download}\"; filename*=UTF-8''")));
        assert_eq!(image::guess_format(&r.body).unwrap(), format, "{name}: same format as uploaded");
        let img = image::load_from_memory(&r.body).unwrap();
        if name != "scan.jpg" {
            assert_eq!(img.color(), image::ColorType::Rgb16, "{name}: 16-bit stays 16-bit");
        }
        let saved = s.dir.path().join(download);
        std::fs::write(&saved, &r.body).unwrap();
        let provenance = read_provenance(&saved).unwrap_or_else(|| panic!("{name}: no provenance"));
        assert_eq!(provenance.source_sha256, hued::model::sha256_bytes(&bytes));
        std::fs::remove_file(saved).unwrap();
        // Downloaded: dropped.
        assert_eq!(s.get(&format!("/api/jobs/{id}/download")).status, 404);
        assert_eq!(s.get(&format!("/api/jobs/{id}")).status, 404);
        assert_eq!(s.get(&format!("/api/jobs/{id}/after.jpg")).status, 404);
    }
    assert_eq!(s.stray_files(), Vec::<PathBuf>::new(), "nothing of the uploads reached the disk");
    let state: Vec<_> = std::fs::read_dir(s.dir.path().join("state")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(state.iter().all(|n| n == "state.json"), "state folder holds only the daemon's record: {state:?}");
}

#[test]
fn bad_uploads_get_a_clear_4xx_and_nothing_is_stored() {
    let s = Server::start("colorize.max_megapixels = 0.5\nweb.max_upload_mb = 0.3");
    let check = |r: Reply, status: u16, words: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(words), "{msg:?} should say {words:?}");
    };
    // Over the byte limit: refused from Content-Length, and when streamed without one.
    let big = vec![0xAB; 400_000];
    check(s.upload("big.jpg", &big, ""), 413, "larger than the limit of 0 MB");
    let chunked = reply(ureq::post(&s.url("/api/jobs?name=big.jpg")).send(std::io::Cursor::new(big.clone())));
    check(chunked, 413, "larger than the limit");
    check(s.upload("empty.jpg", b"", ""), 400, "empty");
    check(s.upload("notes.jpg", b"these are not pixels, just text\n", ""), 415, "notes.jpg: unsupported format: not an image file");
    check(
        s.upload(
            "anim.gif",
            b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
            "",
        ),
        415,
        "Gif images are not supported",
    );
    let jpeg = gray_jpeg(300, 200);
    check(s.upload("cut.jpg", &jpeg[..jpeg.len() / 2], ""), 422, "truncated JPEG");
    check(s.upload("huge.png", &encode(image::DynamicImage::new_luma8(1000, 800), image::ImageFormat::Png), ""), 413, "over the limit of 0.5 MP");
    check(s.upload("scan.jpg", &jpeg, "&hint=10,10"), 400, "expected X,Y,#RRGGBB");
    check(s.upload("scan.jpg", &jpeg, "&hint=10,10,%23zz0000"), 400, "not a color");
    check(s.upload("scan.jpg", &jpeg, "&hint=5000,10,%23ff0000"), 400, "outside");
    // A hint inside the long side but outside the photo is caught once it is decoded.
    let (_, status) = s.colorize("scan.jpg", &jpeg, "&hint=10,250,%23ff0000");
    assert_eq!(status["state"], "failed");
    assert_eq!(status["status"], 400, "a bad hint is a bad request, before or after decoding");
    assert!(status["error"].as_str().unwrap().contains("outside the 300x200 photo"), "{status}");
    // A color photo is not "colorized" again.
    let color = encode(image::DynamicImage::ImageRgb8(common::color_photo(200, 150)), image::ImageFormat::Png);
    let (id, status) = s.colorize("color.png", &color, "");
    assert_eq!(status["state"], "failed");
    assert!(status["error"].as_str().unwrap().contains("already in color"), "{status}");
    assert_eq!(s.get(&format!("/api/jobs/{id}/download")).status, 422);
    assert_eq!(s.stray_files(), Vec::<PathBuf>::new());
    assert!(s.get("/api/info").status == 200, "still serving after all that");
}

/// A client that is still sending a too-large upload when the server has already refused it
/// must still receive the refusal: the server answers, then reads and discards what is still
/// coming for a while before closing. Closing at once makes the kernel answer the client's
/// further data with a reset, which throws away the 413 before the client reads it (CI saw
/// "Broken pipe" from ureq uploading 400 KB).
#[test]
fn an_oversized_upload_still_being_sent_gets_its_413() {
    // 0.3 MB limit, 4 MB sent; and the default 50 MB limit, a 100 MB scan sent.
    for (config, body_len) in [("web.max_upload_mb = 0.3", 4_000_000), ("", 100_000_000)] {
        oversized_upload_gets_its_413(config, body_len);
    }
}

fn oversized_upload_gets_its_413(config: &str, body_len: usize) {
    let s = Server::start(config);
    let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(c, "POST /api/jobs?name=big.jpg HTTP/1.1\r\nHost: {}\r\nContent-Length: {body_len}\r\n\r\n", addr(&s)).unwrap();
    // The server refuses from the header alone; give it time to answer before the body comes.
    std::thread::sleep(Duration::from_millis(500));
    let chunk = vec![0xABu8; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        c.write_all(&chunk[..n]).unwrap_or_else(|e| panic!("writing the body after {sent} bytes: {e}"));
        sent += n;
    }
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap_or_else(|e| panic!("reading the reply: {e} (got {reply:?})"));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("larger than the limit"), "{reply}");
    assert_eq!(s.stray_files(), Vec::<PathBuf>::new(), "nothing of the upload reached the disk");
    assert!(answers(&s), "still serving");
}

/// `Expect: 100-continue` (curl sends it for bodies over 1 MB): a refused upload is answered
/// with its refusal and no `100 Continue`, so the client never sends the body; an accepted one
/// gets its `100 Continue` and then its job.
#[test]
fn expect_100_continue_is_answered_only_for_an_upload_that_will_be_read() {
    let s = Server::start("web.max_upload_mb = 0.3");
    let head = |c: &mut std::net::TcpStream, len: usize| {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(c, "POST /api/jobs?name=x.jpg HTTP/1.1\r\nHost: {}\r\nExpect: 100-continue\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n", addr(&s))
            .unwrap();
        let mut first = vec![0u8; 12];
        c.read_exact(&mut first).unwrap();
        String::from_utf8_lossy(&first).to_string()
    };
    // Over the limit: the 413 at once, no 100 Continue before it (before: 100 Continue, and the
    // body was read and thrown away).
    let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
    assert_eq!(head(&mut c, 60_000_000), "HTTP/1.1 413");
    // Within the limit: 100 Continue, then the body is read and the job taken.
    let photo = gray_jpeg(64, 48);
    let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
    assert_eq!(head(&mut c, photo.len()), "HTTP/1.1 100");
    c.write_all(&photo).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("HTTP/1.1 202"), "{reply}");
    assert!(answers(&s), "still serving");
}

/// The same for a refusal hyper writes itself: headers over the size limit get a 431, which
/// must reach a client that sent them all at once, not be lost to a reset.
#[test]
fn a_request_with_too_large_headers_gets_its_431() {
    let s = Server::start("");
    let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut request = format!("GET /api/info HTTP/1.1\r\nHost: {}\r\nX-Long: ", addr(&s)).into_bytes();
    request.extend(std::iter::repeat_n(b'a', 400_000));
    request.extend(b"\r\n\r\n");
    c.write_all(&request).unwrap_or_else(|e| panic!("writing the request: {e}"));
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap_or_else(|e| panic!("reading the reply: {e} (got {reply:?})"));
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert!(answers(&s), "still serving");
}

/// Results waiting for download hold their bytes in the memory budget the folder watches share.
/// Once they hold a quarter of it, new uploads are refused (503, before their bodies are read):
/// a stranger who uploads big photos and never downloads them could otherwise keep most of the
/// budget for 10 minutes at a time, and a watched scan waited for it.
#[test]
fn results_waiting_for_download_hold_at_most_a_quarter_of_the_memory_budget() {
    // 300 MB budget: each 3000x2000 gray BMP gives a 18 MB RGB BMP (+ 5 MB of previews) and
    // needs 160 MB while being colorized. Four held results (92 MB) are over a quarter.
    let s = Server::start("memory_budget_mb = 300");
    let bmp = encode(image::DynamicImage::ImageLuma8(gray_photo(3000, 2000)), image::ImageFormat::Bmp);
    for i in 0..4 {
        let (_, status) = s.colorize(&format!("big{i}.bmp"), &bmp, "");
        assert_eq!(status["state"], "done", "{status}");
    }
    let refused = s.upload("big4.bmp", &bmp, "");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("try again"), "{}", refused.text());
    assert!(answers(&s), "still serving");
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    // One slot: a big photo occupies it (a debug build takes seconds over 12 MP).
    let s = Server::start("web.queue_capacity = 1");
    let big = encode(image::DynamicImage::ImageLuma8(gray_photo(4000, 3000)), image::ImageFormat::Png);
    let first = s.upload("big.png", &big, "");
    assert_eq!(first.status, 202, "{}", first.text());
    // (A small body: the answer comes before a body is read, and a big one could still be
    // being written when the server closes, which the client sees as a broken pipe.)
    let second = s.upload("small.jpg", &gray_jpeg(64, 48), "");
    assert_eq!(second.status, 503, "{}", second.text());
    assert_eq!(second.header("retry-after"), Some("10"));
    assert!(second.json()["error"].as_str().unwrap().contains("try again"));
    // While busy, an upload is answered before its body is read: here the body never comes.
    let mut c = std::net::TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(c, "POST /api/jobs?name=x.png HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40000000\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    c.read_exact(&mut head).expect("an answer without the body");
    assert_eq!(&head, b"HTTP/1.1 503");
    // Deleting the waiting or running upload frees the slot once its worker lets go.
    let id = first.json()["id"].as_str().unwrap().to_string();
    assert_eq!(reply(ureq::delete(&s.url(&format!("/api/jobs/{id}"))).call()).status, 200);
    assert_eq!(s.get(&format!("/api/jobs/{id}")).status, 404);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = s.upload("small.jpg", &gray_jpeg(64, 48), "");
        if r.status == 202 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(Instant::now() < deadline, "the slot never came free");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn queue_position_is_reported_while_others_are_ahead() {
    let s = Server::start("web.queue_capacity = 3");
    let big = encode(image::DynamicImage::ImageLuma8(gray_photo(3000, 2000)), image::ImageFormat::Png);
    let a = s.upload("a.png", &big, "").json();
    let b = s.upload("b.png", &big, "").json();
    let c = s.upload("c.png", &gray_jpeg(64, 48), "").json();
    assert_eq!((a["ahead"].as_u64(), b["ahead"].as_u64(), c["ahead"].as_u64()), (Some(0), Some(1), Some(2)));
    let status = s.get(&format!("/api/jobs/{}", c["id"].as_str().unwrap())).json();
    assert_eq!(status["state"], "queued");
    assert!(status["ahead"].as_u64().unwrap() >= 1, "{status}");
}

#[test]
fn token_guards_the_api_but_not_the_page() {
    let s = Server::start("web.token = \"kiosk-token-42\"");
    assert_eq!(s.get("/").status, 200);
    assert_eq!(s.get("/app.js").status, 200);
    let r = s.get("/api/info");
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].as_str().unwrap().contains("token"));
    assert_eq!(s.get("/api/info?token=wrong-token-00").status, 401);
    assert_eq!(s.upload("scan.jpg", &gray_jpeg(64, 48), "").status, 401);
    assert_eq!(s.get("/api/info?token=kiosk-token-42").status, 200);
    let r = reply(ureq::get(&s.url("/api/info")).set("Authorization", "Bearer kiosk-token-42").call());
    assert_eq!(r.status, 200);
    assert_eq!(s.upload("scan.jpg", &gray_jpeg(64, 48), "&token=kiosk-token-42").status, 202);
}

#[test]
fn results_not_downloaded_in_time_are_dropped() {
    let s = Server::start("web.keep_minutes = 0.02"); // 1.2 s
    let (id, status) = s.colorize("scan.jpg", &gray_jpeg(120, 90), "");
    assert_eq!(status["state"], "done");
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(s.get(&format!("/api/jobs/{id}")).status, 404);
    assert_eq!(s.get(&format!("/api/jobs/{id}/download")).status, 404);
    assert!(s.log().contains("dropped 1 result(s) not downloaded in time"), "{}", s.log());
}

#[test]
fn kiosk_view_follows_the_newest_watched_result() {
    let dir = tempfile::tempdir().unwrap();
    let watch = dir.path().join("watch");
    std::fs::create_dir(&watch).unwrap();
    let s = Server::start(&format!("[[watch]]\npath = \"{}\"", watch.display()));
    assert_eq!(s.get("/api/latest").json()["seq"], 0);
    assert_eq!(s.get("/api/latest/after.jpg").status, 404);
    image::DynamicImage::ImageLuma8(gray_photo(320, 240)).save(watch.join("scan-7.png")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let latest = loop {
        let l = s.get("/api/latest").json();
        if l["seq"] == 1 {
            break l;
        }
        assert!(Instant::now() < deadline, "no result: {}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(latest["original"], "scan-7.png");
    assert_eq!(latest["colorized"], "scan-7.colorized.png");
    for part in ["before", "after"] {
        let r = s.get(&format!("/api/latest/{part}.jpg"));
        assert_eq!(r.status, 200);
        assert_eq!(image::load_from_memory(&r.body).unwrap().width(), 320);
    }
    // A newer result whose copy is gone (an operator moved it away) is refused, and refused
    // from memory: every kiosk poll decoded the whole original again before failing, and a
    // few clients kept both cores busy and the other routes waiting.
    image::DynamicImage::ImageLuma8(gray_photo(320, 240)).save(watch.join("scan-8.png")).unwrap();
    while s.get("/api/latest").json()["seq"] != 2 {
        assert!(Instant::now() < deadline, "no second result: {}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(watch.join("scan-8.colorized.png")).unwrap();
    for _ in 0..10 {
        let r = s.get("/api/latest/after.jpg");
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(r.text().contains("scan-8.colorized.png"), "{}", r.text());
    }
    let made = s.log().matches("kiosk previews of scan-8.png").count();
    assert_eq!(made, 1, "previews attempted {made} times: {}", s.log());
}

/// The shipped model follows a hint: a blue hint on a gray photo turns that spot blue.
#[test]
fn a_hint_moves_the_color_at_its_spot() {
    let Some(data) = shared_data() else { return };
    let s = Server::start_with("", &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml"));
    let bytes = std::fs::read(data.join("historical/1890CliffHouseSF.jpg")).unwrap();
    let (x, y) = (580u32, 280u32); // the rock under the Cliff House, mid-gray
    let run = |query: &str| {
        let (id, status) = s.colorize("cliff.jpg", &bytes, query);
        assert_eq!(status["state"], "done", "{status}");
        let img = image::load_from_memory(&s.get(&format!("/api/jobs/{id}/download")).body).unwrap().to_rgb8();
        common::window_mean(&img, x, y)
    };
    let plain = run("");
    let hinted = run(&format!("&hint={x},{y},%23dc143c"));
    assert!(common::redness(hinted) - common::redness(plain) > 30.0, "a red hint should redden its spot: {plain:?} -> {hinted:?}");
}

#[test]
fn a_model_without_hint_inputs_hides_hints() {
    let s = Server::start_with("", &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qdq-nohints.toml"));
    assert_eq!(s.get("/api/info").json()["hints"], false, "the page hides its hint tools");
    let r = s.upload("scan.jpg", &gray_jpeg(64, 48), "&hint=1,1,%23ff0000");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("takes no color hints"));
    let (_, status) = s.colorize("scan.jpg", &gray_jpeg(64, 48), "");
    assert_eq!(status["state"], "done");
}

// ---- a hostile network (issue 13) ----

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

/// /api/info answers within two seconds.
fn answers(s: &Server) -> bool {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(2)).build();
    agent.get(&s.url("/api/info")).call().is_ok()
}

#[test]
fn an_absurd_content_length_is_refused_and_the_daemon_lives() {
    let dir = tempfile::tempdir().unwrap();
    let watch = dir.path().join("watch");
    std::fs::create_dir(&watch).unwrap();
    let mut s = Server::start(&format!("[[watch]]\npath = \"{}\"", watch.display()));
    for path in ["/api/jobs?name=a.jpg", "/", "/api/info"] {
        let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(c, "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000\r\n\r\nabc").unwrap();
        let mut head = [0u8; 64];
        let n = c.read(&mut head).unwrap_or(0);
        let text = String::from_utf8_lossy(&head[..n]).to_string();
        assert!(n == 0 || text.starts_with("HTTP/1.1 4"), "{path}: {text}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.child.try_wait().unwrap().is_none(), "the daemon is alive:\n{}", s.log());
    assert!(answers(&s));
    // And its folder watch still colorizes.
    image::DynamicImage::ImageLuma8(gray_photo(160, 120)).save(watch.join("after.png")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !watch.join("after.colorized.png").exists() {
        assert!(Instant::now() < deadline, "the watch stopped:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn slow_and_half_open_clients_hold_nothing_and_huge_headers_are_cut() {
    let s = Server::start("");
    let pid = s.child.id();
    // Slowloris: bodies that never come, and headers that never end (3: one client address
    // may hold 4 connections, and the check below comes from the same address).
    let mut held = Vec::new();
    for i in 0..3 {
        let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
        if i % 2 == 0 {
            write!(c, "POST /api/jobs?name=a.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").unwrap();
        } else {
            write!(c, "GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        }
        held.push(c);
    }
    assert!(answers(&s), "the page answers while slow clients hang:\n{}", s.log());
    // A thousand half-open connections: capped, the threads stay few.
    for _ in 0..1000 {
        if let Ok(c) = std::net::TcpStream::connect(addr(&s)) {
            held.push(c);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(threads(pid) < 40, "{} threads", threads(pid));
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert!(answers(&s));
    // One endless header line: cut at the limit, memory stays put.
    let before = common::rss_mib(pid);
    let mut c = std::net::TcpStream::connect(addr(&s)).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    while sent < 300 && c.write_all(&chunk).is_ok() {
        sent += 1;
    }
    assert!(sent < 300, "the connection is closed long before 300 MiB");
    assert!(common::rss_mib(pid) - before < 50.0, "RSS {before:.0} -> {:.0} MiB", common::rss_mib(pid));
    assert!(answers(&s));
}

#[test]
fn sigterm_stops_at_once_with_a_stuck_client_connected() {
    let mut s = Server::start("");
    let mut stuck = std::net::TcpStream::connect(addr(&s)).unwrap();
    write!(stuck, "POST /api/jobs?name=a.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n12").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "stopped in {:?}", started.elapsed());
}

fn raw_status(s: &Server, request: &str) -> u16 {
    let mut c = std::net::TcpStream::connect(addr(s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 16];
    let n = c.read(&mut head).unwrap();
    String::from_utf8_lossy(&head[..n]).split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn foreign_host_names_and_cross_site_posts_are_refused() {
    let s = Server::start("web.allowed_hosts = [\"scanner.library.example\"]");
    let a = addr(&s);
    let get = |host: &str| raw_status(&s, &format!("GET /api/latest HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
    // DNS rebinding: another site's name pointing at the station.
    assert_eq!(get("attacker.example"), 421);
    assert_eq!(get("attacker.example:8080"), 421);
    // The station's own names answer.
    for ok in [a.as_str(), "localhost", "scanner.library.example"] {
        assert_ne!(get(ok), 421, "{ok}");
    }
    // A cross-site text/plain POST from another page in the kiosk browser.
    let post = |origin: &str| {
        raw_status(&s, &format!(
            "POST /api/jobs?name=a.jpg HTTP/1.1\r\nHost: {a}\r\nOrigin: {origin}\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        ))
    };
    assert_eq!(post("http://attacker.example"), 403);
    // Even from the page's own origin, a form-typed body is not how the page uploads.
    assert_eq!(post(&format!("http://{a}")), 415);
    let own = raw_status(
        &s,
        &format!(
        "POST /api/jobs?name=a.jpg HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    ),
    );
    assert_eq!(own, 415, "judged on its content: not an image");
}

#[test]
fn a_non_ascii_upload_name_comes_back_in_the_download_header() {
    let s = Server::start("");
    let (id, status) = s.colorize("Gro%C3%9Fmutter%20%C3%A9t%C3%A9.jpg", &gray_jpeg(64, 48), "");
    assert_eq!(status["state"], "done", "{status}");
    let r = s.get(&format!("/api/jobs/{id}/download"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition").unwrap(),
        "attachment; filename=\"Gro_mutter _t_-colorized.jpg\"; filename*=UTF-8''Gro%C3%9Fmutter%20%C3%A9t%C3%A9-colorized.jpg"
    );
}

#[test]
fn metrics_are_served_for_prometheus_without_the_token() {
    let s = Server::start("web.token = \"sesame-open-1\"");
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    assert!(text.contains("hued_build_info{version=") && text.contains("hued_model_info{model=\"tiny-qdq\""), "{text}");
    assert!(text.contains("# TYPE hued_files_total counter"));
    assert_eq!(s.get("/api/info").status, 401, "the API still needs the token");
}

#[test]
fn a_panic_while_colorizing_an_upload_answers_500_and_the_page_goes_on() {
    let s = Server::start_with_env("", &[("HUED_FAULT_PANIC_WIDTH", "77")]);
    let bug = encode(image::DynamicImage::ImageLuma8(gray_photo(77, 50)), image::ImageFormat::Png);
    let (_, status) = s.colorize("bug.png", &bug, "");
    assert_eq!(status["state"], "failed");
    assert_eq!(status["status"], 500);
    assert!(status["error"].as_str().unwrap().contains("Internal error while colorizing"), "{status}");
    let good = encode(image::DynamicImage::ImageLuma8(gray_photo(80, 60)), image::ImageFormat::Png);
    let (_, status) = s.colorize("good.png", &good, "");
    assert_eq!(status["state"], "done", "the worker lives on: {status}");
}

/// The page's downloads carry the same signed Content Credentials as the service's copies.
#[cfg(feature = "c2pa")]
#[test]
fn page_downloads_carry_content_credentials_with_a_key() {
    let s = Server::start(&format!(
        "[provenance]\nc2pa_cert = \"{}\"\nc2pa_key = \"{}\"",
        c2pa_fixture("chain.pem").display(),
        c2pa_fixture("signer.key").display()
    ));
    let bytes = gray_jpeg(200, 150);
    let (id, status) = s.colorize("scan.jpg", &bytes, "");
    assert_eq!(status["state"], "done", "{status}");
    let r = s.get(&format!("/api/jobs/{id}/download"));
    assert_eq!(r.status, 200);
    let c = read_credentials("image/jpeg", &r.body).unwrap();
    assert_eq!(c.state, "Trusted", "{c:?}");
    assert_eq!(c.parent, Some(("scan.jpg".to_string(), Some(hued::model::sha256_bytes(&bytes)))));
    assert!(c.actions.iter().any(|(a, _)| a == "c2pa.edited"), "{c:?}");
}

/// Mean chroma (Lab a, b distance from gray) of a downloaded colorized JPEG.
fn mean_chroma(bytes: &[u8]) -> f64 {
    let rgb = image::load_from_memory(bytes).unwrap().to_rgb8();
    let n = (rgb.width() * rgb.height()) as f64;
    rgb.pixels().map(|p| (p[0] as f64 - p[1] as f64).abs().max((p[1] as f64 - p[2] as f64).abs()).max((p[0] as f64 - p[2] as f64).abs())).sum::<f64>() / n
}

/// Colorizes `photo` on the page with `query` and returns its download's mean chroma.
fn chroma_of_upload(s: &Server, photo: &[u8], query: &str) -> f64 {
    let (id, status) = s.colorize("scan.jpg", photo, query);
    assert_eq!(status["state"], "done", "{status}");
    mean_chroma(&s.get(&format!("/api/jobs/{id}/download")).body)
}

#[test]
fn a_reload_reaches_the_page_vividness_1_then_0_comes_back_gray() {
    let s = Server::start("colorize.vividness = 1.0");
    let photo = gray_jpeg(240, 160);
    let before = chroma_of_upload(&s, &photo, "");
    assert!(before > 4.0, "the fixture model colors the photo at vividness 1 (mean channel spread {before:.2})");

    // The same config with vividness 0, then `systemctl reload hued` (SIGHUP).
    let config = s.dir.path().join("hued.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("vividness = 1.0", "vividness = 0");
    std::fs::write(&config, text).unwrap();
    let pid = s.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.log().contains("config reloaded") {
        assert!(Instant::now() < deadline, "no reload:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = chroma_of_upload(&s, &photo, "");
    assert!(after < 1.5, "after the reload the page's next upload comes back gray (mean channel spread {after:.2}, {before:.2} before)");
}

#[test]
fn an_upload_carries_its_own_vividness_and_a_bad_one_is_refused() {
    let s = Server::start("");
    let photo = gray_jpeg(240, 160);
    let gray = chroma_of_upload(&s, &photo, "&vividness=0");
    let colored = chroma_of_upload(&s, &photo, "");
    assert!(gray < 1.5 && colored > gray + 2.0, "vividness=0 on the upload gives gray ({gray:.2}), the station's own 1 colors ({colored:.2})");
    for bad in ["&vividness=9", "&vividness=loud"] {
        let r = s.upload("scan.jpg", &photo, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"].as_str().unwrap().contains("vividness"), "{bad}: {}", r.text());
    }
}
