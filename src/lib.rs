//! The local `helpdesk` program's library: local mode (data dir, API keys, folder watchers,
//! local upload and download routes) over the shared core. `src/main.rs` is its command line.

pub mod local;
