//! HTTPS listeners, one per node. A node's listener closes its socket while the node is offline
//! (clients get "connection refused") and re-binds the same port when it comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::state::Sim;

/// Which node's listener received a request.
#[derive(Debug, Clone)]
pub(crate) struct LocalNode(pub String);

/// Runs one node's listener until shutdown.
pub(crate) async fn serve_node(
    sim: Arc<Sim>,
    node: String,
    addr: SocketAddr,
    mut listener: Option<TcpListener>,
    router: axum::Router,
    acceptor: TlsAcceptor,
) {
    let Some(tx) = sim.online.get(&node) else {
        return;
    };
    let mut rx = tx.subscribe();
    loop {
        if !*rx.borrow_and_update() {
            listener = None;
            tokio::select! {
                res = rx.wait_for(|online| *online) => if res.is_err() { return },
                () = sim.shutdown.cancelled() => return,
            }
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match rebind(addr, &sim.shutdown).await {
                Some(l) => l,
                None => return,
            },
        };
        let conns = sim.shutdown.child_token();
        loop {
            tokio::select! {
                () = sim.shutdown.cancelled() => return,
                changed = rx.changed() => {
                    if changed.is_err() { return; }
                    if !*rx.borrow() {
                        conns.cancel();
                        break;
                    }
                }
                accepted = l.accept() => {
                    let Ok((stream, _peer)) = accepted else { continue };
                    let acceptor = acceptor.clone();
                    let router = router.clone();
                    let token = conns.clone();
                    sim.tracker.spawn(async move {
                        tokio::select! {
                            () = serve_connection(stream, acceptor, router) => {}
                            () = token.cancelled() => {}
                        }
                    });
                }
            }
        }
        drop(l);
        tracing::info!(%node, "listener closed (node offline)");
    }
}

async fn rebind(addr: SocketAddr, shutdown: &CancellationToken) -> Option<TcpListener> {
    for _ in 0..200 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => {
                tracing::warn!(%addr, error = %e, "re-binding node listener failed, retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(25)) => {}
                    () = shutdown.cancelled() => return None,
                }
            }
        }
    }
    None
}

async fn serve_connection(stream: tokio::net::TcpStream, acceptor: TlsAcceptor, router: axum::Router) {
    let Ok(tls) = acceptor.accept(stream).await else {
        return;
    };
    let service = TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with error");
    }
}
