//! Running a program as a benchmark step: its wall time, its own peak RSS, its output.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `program ARGS`; answers its wall time, its own peak RSS (from `wait4`) and its stdout.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its peak RSS"
)]
pub fn run_program(program: &str, args: &[&str]) -> (Duration, f64, String) {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("helpdesk runs");
    let pid = i32::try_from(child.id()).expect("pid");
    let mut stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).expect("output");
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for the child this spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let took = started.elapsed();
    let text = reader.join().expect("reader");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{program} {args:?} failed: {text}"
    );
    (took, usage.ru_maxrss as f64 / 1024.0, text)
}
