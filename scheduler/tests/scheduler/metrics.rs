//! The scheduler's `/metrics` listener.

use shared::loops::Loops;
use shared::metrics::Metrics;
use shared::shutdown::CancellationToken;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_listener_serves_what_the_scheduler_counted() {
    let metrics = Metrics::new().unwrap();
    metrics.lease_expiries.inc_by(2);
    metrics.observe_queue_wait(0.25);
    let mut loops = Loops::new(CancellationToken::new());
    let addr = scheduler::metrics_server::start("127.0.0.1:0", metrics, &mut loops).unwrap();

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: scheduler\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(
        response
            .lines()
            .next()
            .is_some_and(|status| status.contains(" 200 ")),
        "{response}"
    );
    assert!(
        response.contains("\nswitchyard_lease_expiries_total 2\n"),
        "{response}"
    );
    assert!(
        response.contains("\nswitchyard_queue_wait_seconds_count 1\n"),
        "{response}"
    );

    loops.shutdown(Duration::from_secs(5)).await;
}
