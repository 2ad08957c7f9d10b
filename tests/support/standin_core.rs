//! What the Moonshot and Anthropic stand-ins share: the listener on 127.0.0.1 (plain HTTP, or
//! HTTPS with a certificate authority of its own, offering HTTP/2 or only HTTP/1.1, refusing HTTP/2
//! streams as a test scripts) and its graceful stop, the queue of scripted replies, the requests as they arrived, and the counting of replies
//! written to their end or abandoned by their client. Each stand-in adds its protocol on top —
//! routes, validation, and a [`Reply`](crate::Reply) rendered in its wire format — in
//! `impl Server<…, Its API state>` blocks, so that both have the same methods for the same things.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::standin::Recorded;

/// Requests larger than this are refused before parsing; no test needs more.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A running stand-in: `T` is what its reply queue holds, `S` the state only its protocol keeps.
/// Clones share it; it stops accepting connections when the last clone is dropped or
/// [`Server::stop`] is called.
pub struct Server<T, S> {
    running: Arc<Running<T, S>>,
}

impl<T, S> Clone for Server<T, S> {
    fn clone(&self) -> Self {
        Server { running: self.running.clone() }
    }
}

struct Running<T, S> {
    core: Arc<Core<T, S>>,
    addr: SocketAddr,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// The PEM of the certificate authority that signed the stand-in's certificate; `None` for
    /// plain HTTP.
    ca_pem: Option<String>,
}

/// What a TLS stand-in offers by ALPN, which decides the HTTP version a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// `h2` and `http/1.1`, as the live APIs do: reqwest (with its `http2` feature) picks HTTP/2.
    Http2,
    /// `http/1.1` only, as a proxy or server without HTTP/2 would.
    Http1Only,
}

impl Protocols {
    fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Protocols::Http2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Protocols::Http1Only => vec![b"http/1.1".to_vec()],
        }
    }
}

/// What an HTTP/2 stand-in does to a request instead of answering it, as a provider's load
/// balancer may ([`Server::refuse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// RST_STREAM with this error code, before any of the answer (only a `POST` is refused so).
    Reset(h2::Reason),
    /// GOAWAY with this error code, whose last stream id is the one before the request's stream,
    /// then the connection closes: the request was never taken up (any request, the next stream
    /// the client opens).
    GoAway(h2::Reason),
}

/// A fresh certificate authority and a certificate for `localhost` and `127.0.0.1` it signed:
/// the CA's PEM, for clients to trust, and the server's configuration.
fn tls_identity(protocols: Protocols) -> io::Result<(String, Arc<rustls::ServerConfig>)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let tls_err = |e: &dyn std::fmt::Display| io::Error::other(format!("the stand-in's certificates: {e}"));

    let ca_key = KeyPair::generate().map_err(|e| tls_err(&e))?;
    let mut ca = CertificateParams::default();
    // A name of its own: a client that trusts another stand-in's CA of the same name would
    // take it for this certificate's issuer and fail on a bad signature, not an unknown issuer.
    static MADE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!("kimi-lsp test stand-in CA {nanos:x}-{}", MADE.fetch_add(1, Ordering::Relaxed));
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| tls_err(&e))?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().map_err(|e| tls_err(&e))?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().map_err(|e| tls_err(&e))?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(|e| tls_err(&e))?;

    // The provider is named rather than taken from the process default, which rustls cannot pick
    // when a build has more than one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], leaf_key.into())
        .map_err(|e| tls_err(&e))?;
    config.alpn_protocols = protocols.alpn();
    Ok((ca_cert.pem(), Arc::new(config)))
}

impl<T, S> Running<T, S> {
    fn stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

impl<T, S> Drop for Running<T, S> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The state behind a stand-in's routes.
pub(crate) struct Core<T, S> {
    state: Mutex<State<T, S>>,
    tally: Arc<Tally>,
    counter: AtomicU64,
    seed: u64,
}

pub(crate) struct State<T, S> {
    pub queue: VecDeque<T>,
    pub default: T,
    /// The key requests must carry, once a test requires one.
    pub key: Option<String>,
    pub api: S,
}

impl<T: Clone, S> State<T, S> {
    /// The next scripted reply: queued ones in order, then the default.
    pub fn next_reply(&mut self) -> T {
        self.queue.pop_front().unwrap_or_else(|| self.default.clone())
    }
}

/// What the replies' guards update, apart from the protocol's state so that they need not know it.
#[derive(Default)]
struct Tally {
    requests: Mutex<Vec<Recorded>>,
    dropped: AtomicUsize,
    completed: AtomicUsize,
    /// Refusals scripted for the next HTTP/2 requests, and how many were carried out.
    refusals: Mutex<VecDeque<Refusal>>,
    refused: AtomicUsize,
}

impl Tally {
    fn requests(&self) -> MutexGuard<'_, Vec<Recorded>> {
        // A test that panicked while holding the lock must not hide the requests from the next one.
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next scripted refusal, if it is of the kind `pick` takes; counted as carried out.
    fn refusal<R>(&self, pick: impl Fn(Refusal) -> Option<R>) -> Option<R> {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let picked = pick(*refusals.front()?)?;
        refusals.pop_front();
        self.refused.fetch_add(1, Ordering::SeqCst);
        Some(picked)
    }
}

impl<T, S> Core<T, S> {
    pub fn lock(&self) -> MutexGuard<'_, State<T, S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh 64-bit value: ids must differ between requests and runs, nothing more.
    pub fn next_random(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut z = self.seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Reads a request whole and records it before anything else looks at it; the values of the
    /// `redact` headers are recorded as `<redacted>`. Returns its head, its body as JSON (`Null`
    /// when empty, a JSON string when not JSON) and its place among the recorded requests.
    pub async fn record(&self, req: Request, redact: &[&str]) -> (Parts, Value, usize) {
        let (parts, body) = req.into_parts();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
        // Taken before parsing, so that timings of the client under test do not include ours.
        let received_at = Instant::now();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                let value = if redact.contains(&n.as_str()) {
                    "<redacted>".to_string()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                };
                (n.as_str().to_string(), value)
            })
            .collect();
        let recorded = Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers,
            body: body.clone(),
            status: None,
            received_at,
            reply_finished_at: None,
            peer,
            version: format!("{:?}", parts.version),
        };
        let mut requests = self.tally.requests();
        requests.push(recorded);
        let index = requests.len() - 1;
        (parts, body, index)
    }

    /// Records the status a request was answered with.
    pub fn answered(&self, index: usize, status: u16) {
        self.tally.requests()[index].status = Some(status);
    }

    /// Request `index` as recorded.
    pub fn recorded(&self, index: usize) -> Recorded {
        self.tally.requests()[index].clone()
    }

    /// The guard of the reply to request `index`, to be moved into its body.
    pub fn guard(&self, index: usize) -> ReplyGuard {
        ReplyGuard { tally: self.tally.clone(), outcome: Outcome::Pending, request: index }
    }
}

impl<T, S> Server<T, S>
where
    T: Send + 'static,
    S: Send + 'static,
{
    /// Binds 127.0.0.1:`port` (0 for a free one) and serves `routes` on the current tokio runtime.
    pub(crate) async fn serve(port: u16, default: T, api: S, routes: Router<Arc<Core<T, S>>>) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let core = Core::new(default, api, addr);
        let (tx, rx) = oneshot::channel::<()>();
        let app = routes.with_state(core.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Server { running: Arc::new(Running { core, addr, stop: Mutex::new(Some(tx)), ca_pem: None }) })
    }

    /// Like [`Server::serve`], over TLS with a certificate for `localhost` and `127.0.0.1` signed
    /// by a certificate authority made for this server alone ([`Server::ca_pem`]), speaking the
    /// HTTP version that ALPN settled on among `protocols`.
    pub(crate) async fn serve_tls(
        port: u16,
        default: T,
        api: S,
        routes: Router<Arc<Core<T, S>>>,
        protocols: Protocols,
    ) -> io::Result<Self> {
        let (ca_pem, config) = tls_identity(protocols)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let core = Core::new(default, api, addr);
        let (tx, mut rx) = oneshot::channel::<()>();
        let app = routes.with_state(core.clone());
        let tally = core.tally.clone();
        tokio::spawn(async move {
            let graceful = GracefulShutdown::new();
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        // Out of file descriptors or the like: wait rather than spin, as axum does.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(app.clone());
                let watcher = graceful.watcher();
                let tally = tally.clone();
                tokio::spawn(async move {
                    // A client that does not trust the CA fails its handshake: that ends this
                    // connection only, the loop above goes on accepting.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let builder = if h2 { builder.http2_only() } else { builder.http1_only() };
                    // What `into_make_service_with_connect_info` gives the plain server's requests,
                    // so that `record` notes the peer and `connections()` counts alike.
                    let refusals = tally.clone();
                    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        let reset = match (req.version(), req.method()) {
                            (axum::http::Version::HTTP_2, &axum::http::Method::POST) => refusals.refusal(|r| match r {
                                Refusal::Reset(reason) => Some(reason),
                                Refusal::GoAway(_) => None,
                            }),
                            _ => None,
                        };
                        match reset {
                            // hyper resets the stream with the h2 error code a service fails with.
                            Some(reason) => futures::future::Either::Left(futures::future::ready(Err(refused(reason)))),
                            None => futures::future::Either::Right(futures::TryFutureExt::map_err(
                                hyper::service::Service::call(&service, req),
                                infallible,
                            )),
                        }
                    });
                    if h2 {
                        let (near, far) = tokio::io::duplex(64 * 1024);
                        tokio::spawn(h2_frames(tls, near, tally));
                        let _ = watcher.watch(builder.serve_connection(TokioIo::new(far), service)).await;
                    } else {
                        let _ = watcher.watch(builder.serve_connection(TokioIo::new(tls), service)).await;
                    }
                });
            }
            drop(listener);
            // Requests under way finish; idle connections close, as after the plain server's stop.
            graceful.shutdown().await;
        });
        Ok(Server { running: Arc::new(Running { core, addr, stop: Mutex::new(Some(tx)), ca_pem: Some(ca_pem) }) })
    }
}

/// The error type of the TLS stand-in's service: a concrete one, since a boxed `dyn Error` there
/// trips the compiler's check that the connection's future is `'static`.
fn refused(reason: h2::Reason) -> h2::Error {
    h2::Error::from(reason)
}

fn infallible(never: std::convert::Infallible) -> h2::Error {
    match never {}
}

const FRAME_HEADERS: u8 = 0x1;
const FRAME_GOAWAY: u8 = 0x7;

/// Passes an HTTP/2 connection's frames between the client and the stand-in's server, whole, and
/// carries out a scripted GOAWAY: the next stream the client opens does not reach the server, the
/// client gets a GOAWAY naming the stream before it as the last one taken up, and the connection
/// closes. hyper's server cannot send that: its GOAWAY names every stream it has read.
async fn h2_frames<C, B>(client: C, server: B, tally: Arc<Tally>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    enum Out {
        Frame(Vec<u8>),
        /// Written, then the connection closes.
        Last(Option<Vec<u8>>),
    }
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let (mut from_server, mut to_server) = tokio::io::split(server);
    let (out, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Out>();
    let answers = out.clone();
    tokio::spawn(async move {
        while let Ok(frame) = read_frame(&mut from_server).await {
            if answers.send(Out::Frame(frame)).is_err() {
                return;
            }
        }
        let _ = answers.send(Out::Last(None));
    });
    tokio::spawn(async move {
        while let Some(next) = outgoing.recv().await {
            let (bytes, last) = match next {
                Out::Frame(frame) => (Some(frame), false),
                Out::Last(frame) => (frame, true),
            };
            if let Some(bytes) = bytes {
                if to_client.write_all(&bytes).await.is_err() || to_client.flush().await.is_err() {
                    break;
                }
            }
            if last {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    });
    let mut preface = [0u8; 24];
    if from_client.read_exact(&mut preface).await.is_ok() && to_server.write_all(&preface).await.is_ok() {
        let mut last_stream = 0;
        let mut gone_away = false;
        while let Ok(frame) = read_frame(&mut from_client).await {
            if gone_away {
                // Read until the client closes: a socket closed on unread bytes is reset, and a
                // reset may discard the GOAWAY before the client read it.
                continue;
            }
            let stream = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff;
            if frame[3] == FRAME_HEADERS && stream > last_stream {
                if let Some(reason) = tally.refusal(|r| match r {
                    Refusal::GoAway(reason) => Some(reason),
                    Refusal::Reset(_) => None,
                }) {
                    let mut go_away = vec![0, 0, 8, FRAME_GOAWAY, 0, 0, 0, 0, 0];
                    go_away.extend_from_slice(&last_stream.to_be_bytes());
                    go_away.extend_from_slice(&u32::from(reason).to_be_bytes());
                    let _ = out.send(Out::Last(Some(go_away)));
                    let _ = to_server.shutdown().await;
                    gone_away = true;
                    continue;
                }
                last_stream = stream;
            }
            if to_server.write_all(&frame).await.is_err() {
                break;
            }
        }
    }
    let _ = to_server.shutdown().await;
}

/// One HTTP/2 frame: its 9-byte header and its payload.
async fn read_frame(from: &mut (impl tokio::io::AsyncRead + Unpin)) -> io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut frame = vec![0u8; 9];
    from.read_exact(&mut frame).await?;
    let length = u32::from_be_bytes([0, frame[0], frame[1], frame[2]]) as usize;
    frame.resize(9 + length, 0);
    from.read_exact(&mut frame[9..]).await?;
    Ok(frame)
}

impl<T, S> Core<T, S> {
    fn new(default: T, api: S, addr: SocketAddr) -> Arc<Self> {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
            ^ u64::from(addr.port());
        Arc::new(Core {
            state: Mutex::new(State { queue: VecDeque::new(), default, key: None, api }),
            tally: Arc::default(),
            counter: AtomicU64::new(0),
            seed,
        })
    }
}

impl<T, S> Server<T, S> {
    pub(crate) fn core(&self) -> &Core<T, S> {
        &self.running.core
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub fn port(&self) -> u16 {
        self.running.addr.port()
    }

    /// `https://localhost:PORT` when serving TLS (the name its certificate carries),
    /// `http://127.0.0.1:PORT` otherwise.
    pub(crate) fn origin(&self) -> String {
        match self.running.ca_pem {
            Some(_) => format!("https://localhost:{}", self.port()),
            None => format!("http://{}", self.addr()),
        }
    }

    /// The certificate authority a client must trust to reach a TLS stand-in, in PEM. Panics for
    /// a plain-HTTP one, which has none.
    pub fn ca_pem(&self) -> String {
        self.running
            .ca_pem
            .clone()
            .expect("a plain-HTTP stand-in has no certificate authority; start it with start_tls")
    }

    /// Writes [`Server::ca_pem`] to `dir/standin-ca.pem` and returns that path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("standin-ca.pem");
        std::fs::write(&path, self.ca_pem()).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Stops accepting connections; replies already being written finish.
    pub fn stop(&self) {
        self.running.stop();
    }

    /// Queues a reply; requests for an answer that pass validation take replies in order.
    pub fn push(&self, reply: impl Into<T>) {
        self.core().lock().queue.push_back(reply.into());
    }

    /// The reply used when the queue is empty (initially `Reply::text("ok")`).
    pub fn set_default(&self, reply: impl Into<T>) {
        self.core().lock().default = reply.into();
    }

    /// From now on every route answers 401 unless the request carries `key` the way the
    /// protocol's clients send it: `Authorization: Bearer <key>` for Moonshot, that or
    /// `x-api-key: <key>` for Anthropic.
    pub fn require_key(&self, key: &str) {
        self.core().lock().key = Some(key.to_string());
    }

    /// Every request as it arrived, refused ones included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.core().tally.requests().clone()
    }

    /// Bodies of the `POST` requests to `path`, in arrival order (refused ones included).
    pub(crate) fn posted_to(&self, path: &str) -> Vec<Value> {
        self.core()
            .tally
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .map(|r| r.body.clone())
            .collect()
    }

    /// How many connections the requests so far came over: a client that keeps its connections
    /// alive sends one request after another over the same one.
    pub fn connections(&self) -> usize {
        let requests = self.core().tally.requests();
        let peers: std::collections::HashSet<_> = requests.iter().filter_map(|r| r.peer).collect();
        peers.len()
    }

    /// Replies whose client went away before the stand-in finished writing them.
    pub fn dropped_streams(&self) -> usize {
        self.core().tally.dropped.load(Ordering::SeqCst)
    }

    /// Refuses the next requests over HTTP/2, one each, in order, as `refusals` say. A TLS
    /// stand-in offering HTTP/2 only; refused requests are not among [`Server::requests`].
    pub fn refuse(&self, refusals: &[Refusal]) {
        let tally = &self.core().tally;
        tally.refusals.lock().unwrap_or_else(|e| e.into_inner()).extend(refusals.iter().copied());
    }

    /// How many requests were refused as [`Server::refuse`] scripted.
    pub fn refused(&self) -> usize {
        self.core().tally.refused.load(Ordering::SeqCst)
    }

    /// Replies written to the end (scripted cuts count as neither).
    pub fn completed_streams(&self) -> usize {
        self.core().tally.completed.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` `POST`s to `path` (`what`, in the panic message) arrived and
    /// returns them all; panics with the requests seen so far on timeout.
    pub(crate) async fn wait_for_posts(&self, path: &str, what: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.posted_to(path);
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {n} {what}; got {}:\n{}", got.len(), self.dump());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until at least `n` replies were dropped by their client; panics on timeout.
    pub async fn wait_for_dropped_streams(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.dropped_streams();
            if got >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {n} dropped streams; got {got} dropped, {} completed; requests:\n{}",
                    self.completed_streams(),
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn dump(&self) -> String {
        self.requests()
            .iter()
            .map(|r| format!("  {} {} -> {:?} {}", r.method, r.path, r.status, r.body))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Counts a reply as completed or dropped when it goes away: axum drops the response future or
/// body when the client closes the connection, which is how cancellation becomes visible.
pub(crate) struct ReplyGuard {
    tally: Arc<Tally>,
    outcome: Outcome,
    /// The reply's request among the recorded ones.
    request: usize,
}

impl ReplyGuard {
    fn completed(&mut self) {
        self.outcome = Outcome::Completed;
        let now = Instant::now();
        if let Some(r) = self.tally.requests().get_mut(self.request) {
            r.reply_finished_at = Some(now);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Pending,
    Completed,
    CutOnPurpose,
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        match self.outcome {
            Outcome::Pending => {
                self.tally.dropped.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::Completed => {
                self.tally.completed.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::CutOnPurpose => {}
        }
    }
}

/// A reply turned into bytes: the status, content type, the pieces to write (one per streamed
/// event) and whether to cut the connection after the last piece.
#[derive(Debug, PartialEq)]
pub(crate) struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub pieces: Vec<String>,
    pub cut: bool,
    /// The `retry-after` header, in seconds.
    pub retry_after: Option<u32>,
    /// After the last piece the connection stays open, silent, until the client leaves (a server
    /// that never sends `[DONE]`).
    pub linger: bool,
}

impl Rendered {
    /// One JSON document; with `drop_after` the connection is cut halfway through it.
    pub fn json(content_type: &'static str, status: u16, body: String, drop_after: Option<usize>) -> Rendered {
        let (pieces, cut) = match drop_after {
            None => (vec![body], false),
            Some(_) => {
                let mut half = body.len() / 2;
                while !body.is_char_boundary(half) {
                    half -= 1;
                }
                (vec![body[..half].to_string()], true)
            }
        };
        Rendered { status, content_type, pieces, cut, retry_after: None, linger: false }
    }

    /// The response that writes the pieces with `delay` between them, then ends or cuts, and
    /// tells `guard` which of the two happened.
    pub fn into_response(self, delay: Duration, guard: ReplyGuard) -> Response {
        let mut response = Response::new(guarded_body(self.pieces, self.cut, self.linger, delay, guard));
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if self.content_type.starts_with("text/event-stream") {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// If the client leaves before the body ends, axum drops the body and the guard counts a dropped
/// stream.
fn guarded_body(pieces: Vec<String>, cut: bool, linger: bool, delay: Duration, guard: ReplyGuard) -> Body {
    struct Writing {
        pieces: VecDeque<String>,
        cut: bool,
        linger: bool,
        delay: Duration,
        sent: usize,
        guard: ReplyGuard,
    }
    let start = Writing { pieces: pieces.into(), cut, linger, delay, sent: 0, guard };
    let stream = futures::stream::unfold(Some(start), |state| async move {
        let mut w = state?;
        let next = w.pieces.pop_front();
        if (next.is_some() || w.cut) && w.sent > 0 && !w.delay.is_zero() {
            tokio::time::sleep(w.delay).await;
        }
        match next {
            Some(piece) => {
                w.sent += 1;
                Some((Ok::<Bytes, io::Error>(Bytes::from(piece)), Some(w)))
            }
            None if w.cut => {
                // Hyper writes out what it buffered only once the body stalls; without a pause
                // the cut could swallow the pieces (even the headers) meant to arrive before it.
                if w.delay.is_zero() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                w.guard.outcome = Outcome::CutOnPurpose;
                Some((Err(io::Error::other("the stand-in cuts this reply as scripted")), None))
            }
            None if w.linger => {
                // Dropped with the body when the client leaves: counted as a dropped stream.
                futures::future::pending::<()>().await;
                None
            }
            None => {
                w.guard.completed();
                None
            }
        }
    });
    Body::from_stream(stream)
}
