//! Redis connections. Shared work goes over one auto-reconnecting multiplexed manager;
//! blocking reads (`XREADGROUP BLOCK`) get a dedicated connection so they never stall it.

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisResult};
use std::time::Duration;

/// The process-wide manager: reconnects by itself after a Redis restart.
pub async fn manager(url: &str) -> RedisResult<ConnectionManager> {
    let client = Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(3);
    ConnectionManager::new_with_config(client, config).await
}

/// A connection of its own, with no response timeout, for blocking commands.
pub async fn dedicated(url: &str) -> RedisResult<MultiplexedConnection> {
    let client = Client::open(url)?;
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}
