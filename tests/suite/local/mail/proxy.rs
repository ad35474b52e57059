//! A TCP proxy between `helpdesk serve` and Dovecot that can stop a chosen IMAP command on its
//! way: the test then kills the server or the client at exactly that point.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Trap {
    /// Client bytes that stop the connection here (e.g. `UID STORE`).
    pattern: Mutex<Option<Vec<u8>>>,
    /// Set once a command matched and was held back.
    sprung: AtomicBool,
    /// Held connections close when this is set.
    cut: AtomicBool,
    /// A held command goes on (as if the network had stalled) when this is set.
    resume: AtomicBool,
}

pub(crate) struct ImapProxy {
    pub(crate) port: u16,
    trap: Arc<Trap>,
}

impl ImapProxy {
    pub(crate) fn start(upstream: u16) -> ImapProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let trap = Arc::new(Trap::default());
        let shared = trap.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let trap = shared.clone();
                std::thread::spawn(move || relay(client, upstream, trap));
            }
        });
        ImapProxy { port, trap }
    }

    /// The next client command containing `pattern` is held: not forwarded, nothing answered.
    pub(crate) fn hold(&self, pattern: &str) {
        self.trap.cut.store(false, Ordering::SeqCst);
        self.trap.resume.store(false, Ordering::SeqCst);
        self.trap.sprung.store(false, Ordering::SeqCst);
        *self.trap.pattern.lock().unwrap() = Some(pattern.as_bytes().to_vec());
    }

    /// Waits until a command was held (at most 20 s).
    pub(crate) fn wait_sprung(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.trap.sprung.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "no command was held within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lets the held command go on, and everything after it.
    pub(crate) fn resume(&self) {
        *self.trap.pattern.lock().unwrap() = None;
        self.trap.resume.store(true, Ordering::SeqCst);
    }

    /// Closes the held connection and lets everything through again.
    pub(crate) fn release(&self) {
        *self.trap.pattern.lock().unwrap() = None;
        self.trap.cut.store(true, Ordering::SeqCst);
    }
}

fn relay(client: TcpStream, upstream: u16, trap: Arc<Trap>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return; // the server is down: the client sees the connection close
    };
    let (mut from_server, mut to_client) =
        (server.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut buffer) {
            if to_client.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let (mut from_client, mut to_server) = (client, server);
    let mut buffer = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from_client.read(&mut buffer) {
        let held = trap
            .pattern
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|p| buffer[..n].windows(p.len()).any(|w| w == p.as_slice()));
        if held {
            trap.sprung.store(true, Ordering::SeqCst);
            // Nothing goes through until the test resumes it (the command then goes on, as
            // after a stalled network), cuts it, or the client dies.
            let _ = from_client.set_read_timeout(Some(Duration::from_millis(50)));
            let mut pending = buffer[..n].to_vec();
            let mut more = [0u8; 16 * 1024];
            let mut closed = false;
            while !trap.cut.load(Ordering::SeqCst) && !trap.resume.load(Ordering::SeqCst) {
                match from_client.read(&mut more) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(m) => pending.extend_from_slice(&more[..m]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed || trap.cut.load(Ordering::SeqCst) {
                break;
            }
            let _ = from_client.set_read_timeout(None);
            if to_server.write_all(&pending).is_err() {
                break;
            }
            continue;
        }
        if to_server.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to_server.shutdown(Shutdown::Both);
    let _ = from_client.shutdown(Shutdown::Both);
}
