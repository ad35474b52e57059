//! Avatar processing benchmark (`cargo bench --bench avatars`): what an upload costs, from
//! the bytes to the three stored sizes (checks, decode, orientation, scale, crop, encode), for
//! a typical phone photo, a large PNG and the largest picture taken, against the baseline of
//! decoding the same file and nothing more; and how fast an image bomb is refused.
//!
//! Each scenario runs in a child process of this binary, so that its peak RSS is its own: the
//! figure that sizes the API function's memory. Nothing here asserts a time.

#[path = "support/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use helpdesk_shared::services::avatars::process;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

const SCENARIO_FLAG: &str = "--scenario";

/// A picture to process: its size, format, and whether it has a photo's grain (a PNG
/// without it is a graphic, small enough for the 5 MiB limit at 24 megapixels).
struct Sample {
    name: &'static str,
    size: (u32, u32),
    format: ImageFormat,
    grain: bool,
}

const PICTURES: [Sample; 4] = [
    Sample {
        name: "phone photo, 12 MP JPEG",
        size: (4_000, 3_000),
        format: ImageFormat::Jpeg,
        grain: true,
    },
    Sample {
        name: "photo, 1 MP PNG",
        size: (1_024, 1_024),
        format: ImageFormat::Png,
        grain: true,
    },
    Sample {
        name: "largest taken, 24 MP JPEG",
        size: (6_000, 4_000),
        format: ImageFormat::Jpeg,
        grain: true,
    },
    Sample {
        name: "largest taken, 24 MP graphic PNG",
        size: (6_000, 4_000),
        format: ImageFormat::Png,
        grain: false,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == SCENARIO_FLAG) {
        scenario(&args[at + 1], Path::new(&args[at + 2]));
        return;
    }
    let runs: usize = std::env::var("AVATAR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("helpdesk-avatar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    println!("# helpdesk avatar benchmark\n");
    println!("machine: {}", report::machine());
    println!("runs per picture: {runs} (one process per line; peak RSS is the process's)\n");
    println!("| picture | file | work | per picture | pictures/s | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for Sample {
        name,
        size: (width, height),
        format,
        grain,
    } in PICTURES
    {
        let file = picture(&dir, width, height, format, grain);
        let kib = std::fs::metadata(&file)
            .map(|m| m.len() / 1024)
            .unwrap_or(0);
        for work in ["decode", "process"] {
            let (per, rss) = child(work, &file, runs);
            let label = match work {
                "decode" => "decode only (baseline)",
                _ => "checks + 64/128/256 squares",
            };
            println!(
                "| {name} | {kib} KiB | {label} | {:.1} ms | {:.1} | {rss:.0} MiB |",
                per * 1e3,
                1.0 / per
            );
        }
    }
    let bomb = dir.join("bomb.png");
    std::fs::write(&bomb, bomb_header()).expect("write");
    let (per, rss) = child("process", &bomb, 1_000);
    println!(
        "| 40,000×40,000 PNG header (bomb) | 0 KiB | refused from the header | {:.1} µs | {:.0} | {rss:.0} MiB |",
        per * 1e6,
        1.0 / per
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `work` on `file` `runs` times in a child; answers seconds per run and its peak RSS.
fn child(work: &str, file: &Path, runs: usize) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .args([SCENARIO_FLAG, work, &file.display().to_string()])
        .env("AVATAR_BENCH_RUNS", runs.to_string())
        .output()
        .expect("run the scenario");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text
        .split_whitespace()
        .filter_map(|n| n.parse::<f64>().ok());
    match (numbers.next(), numbers.next()) {
        (Some(per), Some(rss)) => (per, rss),
        _ => panic!(
            "scenario {work} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn scenario(work: &str, file: &Path) {
    let bytes = std::fs::read(file).expect("read");
    let runs: usize = std::env::var("AVATAR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let started = Instant::now();
    for _ in 0..runs {
        match work {
            "decode" => {
                std::hint::black_box(image::load_from_memory(&bytes).expect("decode"));
            }
            _ => {
                if let Err(refusal) = std::hint::black_box(process(&bytes))
                    && !file.ends_with("bomb.png")
                {
                    panic!("{} refused: {refusal:?}", file.display());
                }
            }
        }
    }
    let per = started.elapsed().as_secs_f64() / runs as f64;
    println!("{per} {}", report::peak_rss_mib());
}

/// A photo-like picture (gradients and grain, so it compresses as photos do).
fn picture(dir: &Path, width: u32, height: u32, format: ImageFormat, grain: bool) -> PathBuf {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let pixels = RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if !grain {
            // A graphic: flat tiles, as logos and drawings are.
            let tile = ((x / 400 + y / 400) % 3) as u8;
            return Rgb([40 + 80 * tile, 200 - 60 * tile, 90]);
        }
        let noise = (state % 24) as u8;
        Rgb([
            ((x * 255 / width) as u8).saturating_add(noise),
            ((y * 255 / height) as u8).saturating_add(noise),
            (((x + y) % 256) as u8).saturating_add(noise),
        ])
    });
    let file = dir.join(format!("{width}x{height}.{}", format.extensions_str()[0]));
    DynamicImage::ImageRgb8(pixels)
        .save_with_format(&file, format)
        .expect("save");
    file
}

fn bomb_header() -> Vec<u8> {
    let crc = |bytes: &[u8]| {
        let mut crc = 0xFFFF_FFFFu32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    };
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
        out
    };
    let mut ihdr = 40_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&40_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IEND", &[]));
    png
}
