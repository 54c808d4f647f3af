//! The kiosk web page (`[web]` in hued.toml): upload a photo, wait a few seconds, download the
//! colorized copy; color hints; a full-screen view of the daemon's newest result.
//!
//! Served by tiny_http on a few plain threads, like the rest of the daemon (no async runtime).
//! Uploads and results live only in memory ([`jobs`]); the routes ([`routes`]) are a fixed
//! table with no file serving.

pub mod jobs;
pub mod latest;
pub mod routes;

use crate::config::WebConfig;
use crate::job::Settings;
use crate::model::Model;
use jobs::WebJobs;
use latest::Latest;
use routes::{Context, Incoming};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Threads answering requests (a slow phone upload holds one).
const HTTP_THREADS: usize = 4;

/// The running web server; dropping it stops it.
pub struct WebServer {
    server: Arc<tiny_http::Server>,
    jobs: Arc<WebJobs>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The address it listens on (the port is resolved when 0 was asked for).
    pub address: String,
}

/// Starts the page on `config.listen`. Failing to listen is an error for the caller to report
/// (a port in use, an address this machine does not have).
pub fn start(config: &WebConfig, model: Arc<Model>, settings: Settings, latest: Latest) -> anyhow::Result<WebServer> {
    let server = tiny_http::Server::http(&config.listen).map_err(|e| anyhow::anyhow!("web: cannot listen on {}: {e}", config.listen))?;
    let server = Arc::new(server);
    let address = server.server_addr().to_ip().map_or(config.listen.clone(), |a| a.to_string());
    let jobs = WebJobs::new(config.queue_capacity, Duration::from_secs_f64(config.keep_minutes * 60.0));
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Context {
        jobs: jobs.clone(),
        latest,
        token: config.token.clone(),
        max_upload: (config.max_upload_mb * 1e6) as u64,
        max_megapixels: settings.max_megapixels,
        hints: model.has_hints(),
        keep_minutes: config.keep_minutes,
    });
    let mut threads = Vec::new();
    for i in 0..config.workers {
        // Not joined on stop: one may be in the middle of a photo, which the exit abandons.
        let (jobs, model, settings) = (jobs.clone(), model.clone(), settings.clone());
        spawn(format!("web-worker-{i}"), move || jobs.work(&model, &settings));
    }
    for i in 0..HTTP_THREADS {
        let (server, ctx, stop) = (server.clone(), ctx.clone(), stop.clone());
        threads.push(spawn(format!("web-http-{i}"), move || serve(&server, &ctx, &stop)));
    }
    let (reaper_jobs, reaper_stop) = (jobs.clone(), stop.clone());
    threads.push(spawn("web-expiry".into(), move || {
        while !reaper_stop.load(Ordering::Relaxed) {
            let n = reaper_jobs.expire(Instant::now());
            if n > 0 {
                log::info!("web: dropped {n} result(s) not downloaded in time");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }));
    let lan = !server.server_addr().to_ip().is_some_and(|a| a.ip().is_loopback());
    log::info!(
        "web: kiosk page at http://{address}/ (kiosk view: /kiosk){}",
        match (lan, config.token.is_some()) {
            (true, false) => "; reachable from the network WITHOUT a token",
            (true, true) => "; reachable from the network, token required",
            _ => "",
        }
    );
    Ok(WebServer { server, jobs, stop, threads, address })
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new().name(name).spawn(f).expect("spawn a thread")
}

fn serve(server: &tiny_http::Server, ctx: &Context, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("web: {e}");
                continue;
            }
        };
        let method = request.method().as_str().to_string();
        let url = request.url().to_string();
        let authorization = request.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.as_str().to_string());
        let content_length = request.body_length().map(|n| n as u64);
        let incoming = Incoming { method: &method, url: &url, authorization: authorization.as_deref(), content_length };
        let reply = routes::handle(&incoming, request.as_reader(), ctx);
        log::debug!("web: {method} {} -> {}", url.split('?').next().unwrap_or(""), reply.status);
        let length = reply.body.as_ref().len();
        let mut response = tiny_http::Response::new(
            tiny_http::StatusCode(reply.status),
            Vec::new(),
            std::io::Cursor::new(reply.body),
            Some(length),
            None,
        );
        let mut headers = vec![
            ("Content-Type", reply.content_type.to_string()),
            ("Cache-Control", "no-store".to_string()),
            ("X-Content-Type-Options", "nosniff".to_string()),
            // The token travels in the page's address: never pass it on.
            ("Referrer-Policy", "no-referrer".to_string()),
            ("X-Frame-Options", "DENY".to_string()),
            ("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'".to_string()),
        ];
        headers.extend(reply.headers.into_iter().map(|(k, v)| (k, v)));
        for (k, v) in headers {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                response.add_header(h);
            }
        }
        if let Err(e) = request.respond(response) {
            log::debug!("web: reply not delivered: {e}");
        }
    }
}

impl WebServer {
    /// Uploads held in memory right now.
    pub fn held(&self) -> usize {
        self.jobs.len()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.stop();
        self.server.unblock();
        // HTTP threads wake within 200 ms.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
