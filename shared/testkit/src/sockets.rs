//! The test process's own TCP sockets, as the kernel holds them: which are connected to a
//! port, and whether they set `TCP_NODELAY`. So a test can check options that a library
//! (sqlx) sets on sockets it never hands out.
//!
//! Each descriptor listed in `/proc/self/fd` is duplicated with `pidfd_getfd(2)` (Linux
//! 5.6+; a process may always take its own), which needs no unsafe code: the duplicate
//! is the same socket, so reading or setting an option on it reads or sets the original.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rustix::net::sockopt;
use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

/// One TCP socket of this process, connected to a peer.
#[derive(Debug)]
pub struct TcpSocket {
    /// The descriptor's number in this process.
    pub fd: i32,
    /// Its own address.
    pub local: SocketAddr,
    /// Where it is connected.
    pub peer: SocketAddr,
    duplicate: OwnedFd,
}

impl TcpSocket {
    /// Whether `TCP_NODELAY` is set (Nagle's algorithm off).
    pub fn nodelay(&self) -> bool {
        sockopt::tcp_nodelay(&self.duplicate).expect("TCP_NODELAY readable")
    }

    /// Sets or clears `TCP_NODELAY` (benchmarks compare both).
    pub fn set_nodelay(&self, on: bool) {
        sockopt::set_tcp_nodelay(&self.duplicate, on).expect("TCP_NODELAY settable");
    }
}

/// This process's TCP sockets connected to `port` (on any host), in descriptor order.
pub fn connected_to(port: u16) -> Vec<TcpSocket> {
    let pidfd = pidfd_open(getpid(), PidfdFlags::empty()).expect("pidfd_open on itself");
    let mut found = Vec::new();
    let entries = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // Closed meanwhile, or not ours to take: not a socket of the pool either way.
        let Ok(duplicate) = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()) else {
            continue;
        };
        let is_tcp = sockopt::socket_type(&duplicate)
            .is_ok_and(|t| t == rustix::net::SocketType::STREAM)
            && sockopt::tcp_nodelay(&duplicate).is_ok();
        let peer = rustix::net::getpeername(&duplicate)
            .ok()
            .flatten()
            .and_then(|a| SocketAddr::try_from(a).ok());
        let local = rustix::net::getsockname(&duplicate)
            .ok()
            .and_then(|a| SocketAddr::try_from(a).ok());
        if let (true, Some(peer), Some(local)) = (is_tcp, peer, local)
            && peer.port() == port
        {
            found.push(TcpSocket {
                fd,
                local,
                peer,
                duplicate,
            });
        }
    }
    found.sort_by_key(|s| s.fd);
    found
}
