//! The kiosk web page (`[web]` in hued.toml): upload a photo, wait a few seconds, download the
//! colorized copy; color hints; a full-screen view of the daemon's newest result.
//!
//! Served by hyper on a small tokio runtime that enforces the limits a station on a shared
//! network needs: header size and count, a time limit on reading headers and between body
//! chunks, a lifetime per connection, a cap on connections (in all and per client address),
//! and a stop that never waits for a stuck client. The routes ([`routes`]) stay plain
//! synchronous functions over a fixed table with no file serving; they read a request's body
//! through a bounded bridge, only as far as they want it (an upload, up to its limit). Uploads
//! and results live only in memory ([`jobs`]).

pub(crate) mod jobs;
pub(crate) mod latest;
pub(crate) mod options;
pub(crate) mod routes;

use crate::config::WebConfig;
use crate::job::CurrentProfile;
use jobs::WebJobs;
use latest::Latest;
use routes::{Context, Incoming};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The HTTP status that reports a pipeline error to the kiosk page: the request was wrong
/// (400), too large (413), not an image hued reads (415), an image it cannot use (422), or hued
/// itself failed (500). The pipeline knows nothing of HTTP; this is the page's reading of it.
pub(crate) fn http_status(e: &crate::pipeline::PipelineError) -> u16 {
    use crate::pipeline::PipelineError;
    match e {
        PipelineError::Empty | PipelineError::Hints(_) => 400,
        PipelineError::TooLarge { .. } | PipelineError::OverBudget { .. } => 413,
        PipelineError::Unsupported(_) => 415,
        PipelineError::Corrupt(_) | PipelineError::Reference(_) => 422,
        PipelineError::Read(_)
        | PipelineError::Model(_)
        | PipelineError::Encode(_)
        | PipelineError::Panicked(_)
        | PipelineError::Write { .. }
        | PipelineError::AnotherPhotosCopy { .. }
        | PipelineError::NotWrittenByHued { .. } => 500,
    }
}

/// Connections served at once, in all and from one client address; more are closed at once.
const MAX_CONNECTIONS: usize = 32;
const MAX_CONNECTIONS_PER_CLIENT: usize = 4;
/// Request headers: all of them within this time, in at most this many bytes and lines.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 48;
/// A body that stalls this long between chunks is given up (a slow phone still sends often).
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// No connection lives longer (a kiosk's keep-alive polling reconnects, unnoticed).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(600);
/// Threads running routes (one per request being answered): more than one client may hold.
const ROUTE_THREADS: usize = 16;
/// A whole request body (an upload) must arrive within this time, however it trickles.
const BODY_DEADLINE: Duration = Duration::from_secs(180);
/// After the last reply on a connection, what the client still sends is read and dropped for
/// at most this long in all, until it pauses this long (nginx's lingering close; its
/// defaults), and up to twice the upload limit or this many bytes, whichever is more: the rest
/// of a refused upload up to twice the limit, not an endless stream (the page itself checks a
/// file's size before sending it). The connection keeps its slot meanwhile, so the limits
/// above still bound it.
const LINGER_TIME: Duration = Duration::from_secs(30);
const LINGER_IDLE: Duration = Duration::from_secs(5);
const LINGER_MIN_BYTES: u64 = 64 << 20;

/// The running web server; dropping it stops it.
pub(crate) struct WebServer {
    runtime: Option<tokio::runtime::Runtime>,
    stop: tokio::sync::watch::Sender<bool>,
    jobs: Arc<WebJobs>,
    expiry_stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Starts the page on `config.listen`, colorizing with the profile `profile` holds at each
/// upload (a reload swaps it). Failing to listen is an error for the caller to report (a port
/// in use, an address this machine does not have).
pub(crate) fn start(config: &WebConfig, profile: CurrentProfile, latest: Latest) -> anyhow::Result<WebServer> {
    let listener = std::net::TcpListener::bind(&config.listen).map_err(|e| anyhow::anyhow!("web: cannot listen on {}: {e}", config.listen))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let address = local.to_string();
    let jobs = WebJobs::new(config.queue_capacity, Duration::from_secs_f64(config.keep_minutes * 60.0));
    let ctx = Arc::new(Context {
        jobs: jobs.clone(),
        latest,
        token: config.token.clone(),
        max_upload: (config.max_upload_mb * 1e6) as u64,
        profile: profile.clone(),
        keep_minutes: config.keep_minutes,
        host_names: own_host_names(&config.allowed_hosts),
    });
    let mut threads = Vec::new();
    for i in 0..config.workers {
        // Not joined on stop: one may be in the middle of a photo, which the exit abandons.
        let (jobs, profile) = (jobs.clone(), profile.clone());
        spawn(format!("web-worker-{i}"), move || jobs.work(&profile));
    }
    let expiry_stop = Arc::new(AtomicBool::new(false));
    let (reaper_jobs, reaper_stop) = (jobs.clone(), expiry_stop.clone());
    threads.push(spawn("web-expiry".into(), move || {
        while !reaper_stop.load(Ordering::Relaxed) {
            let n = reaper_jobs.expire(Instant::now());
            if n > 0 {
                log::info!("web: dropped {n} result(s) not downloaded in time");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(ROUTE_THREADS).thread_name("web-http").enable_all().build()?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    runtime.spawn(accept_loop(listener, ctx, stop_rx));
    let lan = !local.ip().is_loopback();
    log::info!(
        "web: kiosk page at http://{address}/ (kiosk view: /kiosk){}",
        match (lan, config.token.is_some()) {
            (true, false) => "; reachable from the network WITHOUT a token",
            (true, true) => "; reachable from the network, token required",
            _ => "",
        }
    );
    Ok(WebServer { runtime: Some(runtime), stop, jobs, expiry_stop, threads })
}

/// This machine's host name and the configured extra names, lowercase.
fn own_host_names(allowed: &[String]) -> Vec<String> {
    let mut names: Vec<String> = allowed.iter().map(|h| h.trim_end_matches('.').to_ascii_lowercase()).collect();
    let mut buf = [0u8; 256];
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(name) = std::str::from_utf8(&buf[..end]) {
            if !name.is_empty() {
                names.push(name.to_ascii_lowercase());
            }
        }
    }
    names
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new().name(name).spawn(f).expect("spawn a thread")
}

/// Connections per client address, released when a connection ends.
#[derive(Default)]
struct Clients(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

struct ClientSlot(Arc<Clients>, std::net::IpAddr);

impl Clients {
    fn enter(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<ClientSlot> {
        let mut map = self.0.lock().unwrap();
        let n = map.entry(ip).or_default();
        if *n >= MAX_CONNECTIONS_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(ClientSlot(self.clone(), ip))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.0 .0.lock().unwrap();
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, ctx: Arc<Context>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let clients = Arc::new(Clients::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    log::warn!("web: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            log::debug!("web: {peer}: refused, {MAX_CONNECTIONS} connections open");
            continue; // dropping the stream closes it
        };
        let Some(slot) = clients.enter(peer.ip()) else {
            log::debug!("web: {peer}: refused, {MAX_CONNECTIONS_PER_CLIENT} connections open from it");
            continue;
        };
        let (ctx, mut stop) = (ctx.clone(), stop.clone());
        let max_upload = ctx.max_upload;
        tokio::spawn(async move {
            let _held = (permit, slot);
            let mut stream = stream;
            let service = hyper::service::service_fn(move |req| answer(req, ctx.clone()));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEADER_BYTES).max_headers(MAX_HEADERS);
            let session = async move {
                // hyper writes, flushes and shuts down its side; then `linger` drains what the
                // client still sends, so that a refusal (ours, or hyper's own 400 and 431)
                // reaches it. Not after a timeout: that client sends nothing.
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(&mut stream), service);
                let drain = match conn.await {
                    Ok(()) => true,
                    Err(e) => {
                        log::debug!("web: {peer}: {e}");
                        !e.is_timeout()
                    }
                };
                if drain {
                    linger(&mut stream, LINGER_MIN_BYTES.max(2 * max_upload)).await;
                }
            };
            tokio::select! {
                r = tokio::time::timeout(CONNECTION_LIFETIME, session) => if r.is_err() {
                    log::debug!("web: {peer}: connection closed after {} s", CONNECTION_LIFETIME.as_secs());
                },
                _ = stop.changed() => {}
            }
        });
    }
}

/// Drains a connection hyper is done with, so that its last reply reaches the client.
///
/// A reply may come before the request has all arrived (an upload refused as too large from
/// its Content-Length, headers over the limit). Closing the socket then would make the kernel
/// answer the data still coming with a reset, and a reset makes the client's kernel drop the
/// reply unread: the client sees "broken pipe" or "connection reset" instead of the 413. So:
/// make sure our side's FIN is sent (hyper has normally sent it), then read and discard until
/// the client closes too, goes quiet, `LINGER_TIME` has passed or `max_bytes` have come.
async fn linger(stream: &mut tokio::net::TcpStream, max_bytes: u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await; // already shut down by hyper: an error, and harmless
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut sink = vec![0u8; 16 * 1024];
    let mut drained = 0u64;
    while drained < max_bytes {
        let until = deadline.min(tokio::time::Instant::now() + LINGER_IDLE);
        match tokio::time::timeout_at(until, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n as u64,
            _ => return, // closed, failed, quiet, or out of time
        }
    }
}

/// A request's body as a blocking reader for the routes: chunks come through a small channel
/// from the connection's task, which reads the network only as the route reads, gives up on
/// a body that stalls, and stops when the route is done with it.
struct BodyReader {
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
    /// Tells the connection's task that the route wants the body (see `pump_body`).
    wanted: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(wanted) = self.wanted.take() {
            let _ = wanted.send(());
        }
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Feeds the body to the route's reader, and only once the route first reads it: hyper answers
/// `Expect: 100-continue` when the body is first polled, so a route that refuses from the
/// headers alone (too large, queue full, no token) answers without inviting the body.
async fn pump_body(mut body: hyper::body::Incoming, wanted: tokio::sync::oneshot::Receiver<()>, tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>) {
    use http_body_util::BodyExt;
    if wanted.await.is_err() {
        return; // the route finished without reading
    }
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    loop {
        let next = tokio::select! {
            frame = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()) => frame,
            _ = tokio::time::sleep_until(deadline) => {
                let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("the body took over {} s", BODY_DEADLINE.as_secs())))).await;
                return;
            }
            _ = tx.closed() => return, // the route has what it wants
        };
        let item = match next {
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => Ok(data),
                Err(_) => continue, // trailers
            },
            Ok(Some(Err(e))) => Err(std::io::Error::other(e)),
            Ok(None) => return,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no data for {} s", BODY_IDLE_TIMEOUT.as_secs()))),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    ctx: Arc<Context>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let url = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |pq| pq.as_str().to_string());
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let authorization = header("authorization");
    let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let (host, origin, content_type) = (header("host"), header("origin"), header("content-type"));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (wanted_tx, wanted_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(pump_body(body, wanted_rx, tx));
    let route = {
        let (method, url) = (method.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let incoming = Incoming {
                method: &method,
                url: &url,
                authorization: authorization.as_deref(),
                content_length,
                host: host.as_deref(),
                origin: origin.as_deref(),
                content_type: content_type.as_deref(),
            };
            let mut reader = BodyReader { chunks: rx, current: bytes::Bytes::new(), wanted: Some(wanted_tx) };
            routes::handle(&incoming, &mut reader, &ctx)
        })
    };
    let reply = match route.await {
        Ok(reply) => reply,
        Err(e) => {
            // The path only: the query may hold the token.
            log::error!("web: {method} {}: {e}", url.split('?').next().unwrap_or(""));
            routes::Reply::internal_error()
        }
    };
    log::debug!("web: {method} {} -> {}", url.split('?').next().unwrap_or(""), reply.status);
    let mut response = hyper::Response::builder()
        .status(reply.status)
        .header("Content-Type", reply.content_type)
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff")
        // The token travels in the page's address: never pass it on.
        .header("Referrer-Policy", "no-referrer")
        .header("X-Frame-Options", "DENY")
        .header("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'");
    for (k, v) in &reply.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
            response = response.header(*k, v);
        }
    }
    let body = http_body_util::Full::new(bytes::Bytes::copy_from_slice(reply.body.as_ref()));
    Ok(response.body(body).unwrap_or_else(|_| hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()))))
}

impl WebServer {
    /// Uploads held in memory right now.
    pub(crate) fn held(&self) -> usize {
        self.jobs.len()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.expiry_stop.store(true, Ordering::Relaxed);
        self.jobs.stop();
        // Connections end with the runtime; a client that sends nothing is not waited for.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(500));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
