//! Slow and idle senders against the real `inbox` binary: they are cut off
//! by the header and request timeouts, and do not hold up its exit.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "slow-client-test";

/// The inbox binary on a free port, killed on drop.
struct Inbox {
    child: Child,
    addr: SocketAddr,
}

impl Inbox {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_inbox"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("INBOX_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the inbox");
        let stdout = child.stdout.take().expect("stdout");
        let (found, addr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(text) = line.split("listening on ").nth(1)
                    && let Ok(addr) = text.trim().parse::<SocketAddr>()
                {
                    let _ = found.send(addr);
                }
            }
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(20))
            .expect("inbox logs `listening on ADDR`");
        Self { child, addr }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the inbox closes the connection; what it sent, and when.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_silent_connection_is_closed_after_the_header_timeout() {
    let inbox = Inbox::start(&["--header-timeout", "1s"]);
    let mut silent = TcpStream::connect(inbox.addr).expect("connect");
    silent.write_all(b"GET / HTTP/1.1\r\n").expect("write");
    let (answer, took) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(answer.is_empty(), "{answer}");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[test]
fn a_body_that_trickles_in_gets_408() {
    let inbox = Inbox::start(&["--request-timeout", "1s"]);
    let mut slow = TcpStream::connect(inbox.addr).expect("connect");
    let head = format!(
        "POST /api/notifications HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).expect("write");
    let (answer, took) = read_until_closed(&mut slow, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
}

#[test]
fn an_idle_connection_does_not_delay_the_exit() {
    let mut inbox = Inbox::start(&[]);
    let _idle = TcpStream::connect(inbox.addr).expect("connect");
    std::thread::sleep(Duration::from_millis(100));
    let pid = i32::try_from(inbox.child.id()).expect("pid");
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = inbox.child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
