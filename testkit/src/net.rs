//! Ports on 127.0.0.1.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A 127.0.0.1 port nothing listens on right now (the kernel's pick, released at once).
///
/// ```
/// let port = aiplatform_testkit::free_port();
/// assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
/// ```
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`. `alive` is asked between
/// attempts and returns why to stop waiting (a child that exited, with its log); the panic
/// message carries that reason, or the timeout.
pub(crate) fn wait_for_listener(
    port: u16,
    timeout: Duration,
    what: &str,
    mut alive: impl FnMut() -> Result<(), String>,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Err(why) = alive() {
            panic!("{what} stopped before listening on 127.0.0.1:{port}: {why}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
