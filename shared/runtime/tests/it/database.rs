//! The pool every binary connects (`database::connect`): each of its TCP connections sets
//! `TCP_NODELAY`, so a statement larger than the socket's send buffer is not held back by
//! Nagle's algorithm (sqlx 0.9.0 dropped the option; `shared/vendor/sqlx-core` restores
//! it). The options are read from the kernel, not inferred from timings.

use std::net::TcpStream;

use incident_runtime::Config;
use incident_runtime::database;
use incident_testkit::sockets;
use tokio_util::sync::CancellationToken;

const CONNECTIONS: u32 = 4;

#[tokio::test]
async fn every_connection_of_the_pool_sets_tcp_nodelay() {
    let url = format!("{}/postgres", incident_testkit::db::server_url());
    let mut config = Config::for_urls(&url, "amqp://guest:guest@127.0.0.1:1/%2f").expect("config");
    config.database_max_connections = CONNECTIONS;
    let pool = database::connect(&config, &CancellationToken::new())
        .await
        .expect("connects");
    let port = pool.connect_options().get_port();
    assert!(
        pool.connect_options().get_socket().is_none(),
        "DATABASE_URL must name a TCP host for this test: {url}"
    );
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        held.push(pool.acquire().await.expect("a connection"));
    }
    for conn in &mut held {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut **conn)
            .await
            .expect("answers");
        assert_eq!(one, 1);
    }

    let of_the_pool = sockets::connected_to(port);
    assert!(
        of_the_pool.len() >= CONNECTIONS as usize,
        "{} sockets to port {port}, {CONNECTIONS} connections held",
        of_the_pool.len()
    );
    for socket in &of_the_pool {
        assert!(socket.nodelay(), "{socket:?} leaves Nagle's algorithm on");
    }

    // The check can tell: a plain socket to the same server keeps the kernel's default.
    let plain = TcpStream::connect(("127.0.0.1", port)).expect("a plain connection");
    let local = plain.local_addr().expect("its address");
    let listed = sockets::connected_to(port);
    let plain_listed = listed
        .iter()
        .find(|s| s.local == local)
        .expect("the plain socket is listed");
    assert!(
        !plain_listed.nodelay(),
        "a plain socket has Nagle's algorithm on"
    );
    assert!(
        listed.iter().filter(|s| s.nodelay()).count() >= CONNECTIONS as usize,
        "the pool's sockets are listed beside it"
    );
    drop(held);
    pool.close().await;
}
