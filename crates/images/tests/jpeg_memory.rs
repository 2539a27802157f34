//! libjpeg allocates with `malloc`, which the counting allocator of `image_memory.rs` does not see
//! (nor libwebp's buffers): here a JPEG job's whole peak, Rust's heap and the C libraries' alike,
//! is measured as the growth of the peak resident memory (`VmHWM`) of a process that runs that job
//! alone, and must stay within what the job reserves.
//!
//! Each case runs in a child process, this test binary again with `JPEG_MEMORY_CASE` naming the
//! picture's file and the purpose: in the parent, the pictures it generates would leave freed
//! memory for the job to reuse unseen. The child's `malloc` maps every block of 128 KiB or more on
//! its own, as the server's does (`being-social`'s `allocator::configure`), so that what a job
//! frees is given back rather than kept for the next one.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::process::Command;

use being_social_domain::model::ImagePurpose;
use being_social_domain::ports::ImageProcessor;
use being_social_images::{ImageBudget, ImageLimits, RustImageProcessor};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

const CASE: &str = "JPEG_MEMORY_CASE";
const TEST: &str = "no_jpeg_job_grows_the_process_more_than_it_reserves";

/// Pixels with detail at every scale (as in `image_memory.rs`).
fn rgb(width: u32, height: u32) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let h = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503);
            pixels.extend_from_slice(&[(x % 251) as u8, (y % 241) as u8, (h >> 24) as u8]);
        }
    }
    pixels
}

fn jpeg(
    width: u32,
    height: u32,
    color: ColorType,
    progressive: bool,
    sampling: SamplingFactor,
) -> Vec<u8> {
    let mut pixels = rgb(width, height);
    if color == ColorType::Cmyk {
        pixels = pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 40])
            .collect();
    }
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 90);
    encoder.set_progressive(progressive);
    encoder.set_sampling_factor(sampling);
    encoder
        .encode(&pixels, width as u16, height as u16, color)
        .unwrap();
    out
}

fn processor() -> RustImageProcessor {
    RustImageProcessor::new(
        ImageLimits::default(),
        ImageBudget::new(1 << 30, std::time::Duration::from_secs(60)),
    )
}

/// A field of `/proc/self/status`, in bytes.
fn status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

fn purpose(name: &str) -> ImagePurpose {
    if name == "Post" {
        ImagePurpose::Post
    } else {
        ImagePurpose::Avatar
    }
}

/// The child: runs one job and prints the growth of its peak RSS.
fn child(case: &str) {
    let (path, purpose_name) = case.rsplit_once(':').unwrap();
    let bytes = std::fs::read(path).unwrap();
    let purpose = purpose(purpose_name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let processor = processor();
    // A small picture first, as a server has done before: the code paged in, the blocking thread
    // (kept for the next job) and its allocator's arena made.
    let small = jpeg(64, 48, ColorType::Rgb, false, SamplingFactor::F_2_2);
    runtime.block_on(processor.process(small, purpose)).unwrap();
    let before = status("VmRSS:");
    // Resets VmHWM to the RSS of now.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let processed = runtime.block_on(processor.process(bytes, purpose));
    let peak = status("VmHWM:");
    assert!(processed.is_ok(), "{processed:?}");
    println!("GROWTH {}", peak.saturating_sub(before));
}

#[test]
fn no_jpeg_job_grows_the_process_more_than_it_reserves() {
    if let Ok(case) = std::env::var(CASE) {
        child(&case);
        return;
    }
    use ColorType::{Cmyk, Rgb};
    use SamplingFactor::{R_4_2_0, R_4_4_4};
    // Name, width, height, colour, progressive, sampling.
    let cases = [
        ("baseline 4:2:0, 12 MP", 4032, 3024, Rgb, false, R_4_2_0),
        ("progressive 4:2:0, 12 MP", 4032, 3024, Rgb, true, R_4_2_0),
        ("baseline 4:2:0, 24 MP", 6000, 4000, Rgb, false, R_4_2_0),
        ("baseline 4:4:4, 12 MP", 4032, 3024, Rgb, false, R_4_4_4),
        ("progressive 4:2:0, 24 MP", 6000, 4000, Rgb, true, R_4_2_0),
        ("progressive 4:4:4, 12 MP", 4032, 3024, Rgb, true, R_4_4_4),
        ("CMYK, 12 MP", 4032, 3024, Cmyk, false, R_4_4_4),
    ];
    let processor = processor();
    let dir = std::env::temp_dir();
    let mut report = Vec::new();
    for (i, (name, width, height, color, progressive, sampling)) in cases.into_iter().enumerate() {
        let bytes = jpeg(width, height, color, progressive, sampling);
        let path = dir.join(format!("jpeg-memory-{}-{i}.jpg", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        for purpose_name in ["Post", "Avatar"] {
            let cost = processor.cost(&bytes, purpose(purpose_name)).unwrap();
            let output = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
                .env(CASE, format!("{}:{purpose_name}", path.display()))
                .env("MALLOC_MMAP_THRESHOLD_", "131072")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{name} ({purpose_name}): {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            // The harness's own words may stand before it on its line.
            let growth: u64 = stdout
                .split("GROWTH ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap()
                .parse()
                .unwrap();
            report.push(format!(
                "{name} ({purpose_name}): peak RSS growth {:.1} MiB, reserved {:.1} MiB",
                growth as f64 / 1048576.0,
                cost as f64 / 1048576.0
            ));
            assert!(
                growth <= cost,
                "{name} ({purpose_name}) grew by {growth} bytes, reserved {cost}\n{}",
                report.join("\n")
            );
        }
        std::fs::remove_file(&path).unwrap();
    }
    println!("{}", report.join("\n"));
}
