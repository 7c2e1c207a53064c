//! Work on many servers at once, bounded, so one slow server never blocks the others.

use crate::SshError;
use crate::conn::Step;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Runs `op` for every item with at most `limit` permits held at once and
/// `per_op` as each operation's bound. Results come back in completion order.
pub async fn fan_out<K, T, F, Fut>(items: Vec<K>, limit: Arc<Semaphore>, per_op: Duration, op: F) -> Vec<(K, Result<T, SshError>)>
where
    K: Clone + Send + 'static,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<T, SshError>>,
{
    let mut running = FuturesUnordered::new();
    for item in items {
        let limit = limit.clone();
        let fut = op(item.clone());
        running.push(async move {
            let Ok(_permit) = limit.acquire_owned().await else {
                return (item, Err(SshError::Cancelled));
            };
            let r = match tokio::time::timeout(per_op, fut).await {
                Ok(r) => r,
                Err(_) => Err(SshError::Timeout { step: Step::Command, seconds: per_op.as_secs().max(1) }),
            };
            (item, r)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = running.next().await {
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_items_time_out_without_blocking_the_rest() {
        let limit = Arc::new(Semaphore::new(2));
        let started = std::time::Instant::now();
        let res = fan_out(vec![1u64, 2, 3, 4], limit, Duration::from_millis(200), |i| async move {
            if i == 2 {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok::<_, SshError>(i * 10)
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(res.len(), 4);
        let two = res.iter().find(|(k, _)| *k == 2).map(|(_, r)| r.clone());
        assert!(matches!(two, Some(Err(SshError::Timeout { .. }))));
        assert_eq!(res.iter().filter(|(_, r)| r.is_ok()).count(), 3);
    }
}
