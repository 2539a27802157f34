//! What each step of a post's processing costs on a 12-megapixel phone photo (issue 17), and what
//! libwebp's settings cost and give: measurements to read, not tests, so they are ignored unless
//! asked for, in a release build:
//!
//! ```text
//! cargo test --release -p being-social-images --lib -- --ignored --nocapture timings
//! ```
//!
//! The photo is `$PHOTO` if set (the benchmark's, from `bench/uploads.py generate`), otherwise
//! one made here: 4032 × 3024 with gradients, edges and grain, JPEG quality 92, 4:2:0,
//! EXIF orientation 6. Each step runs a few times and its fastest run is printed, as the machine
//! may be shared.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::time::{Duration, Instant};

use being_social_test_support::pictures::jpeg_with_exif;
use image::{GrayImage, RgbImage};

use super::*;

const ROUNDS: usize = 5;

/// The fastest of [`ROUNDS`] runs of `step`, and its last result.
fn fastest<T>(mut step: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let out = step();
        best = best.min(start.elapsed());
        result = Some(out);
    }
    (best, result.unwrap())
}

/// The CPU time of the whole process so far (every thread, in case a decoder or encoder spreads
/// its work over threads of its own), from `/proc/self/stat`, in clock ticks of 10 ms.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime, the 14th and 15th fields of the line (the 12th and 13th here).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The process's CPU time per run of `step`, over `runs` runs.
fn cpu_per_run<T>(runs: u32, mut step: impl FnMut() -> T) -> Option<Duration> {
    let before = process_cpu()?;
    for _ in 0..runs {
        std::hint::black_box(step());
    }
    Some((process_cpu()? - before) / runs)
}

fn ms(duration: Duration) -> String {
    format!("{:7.1} ms", duration.as_secs_f64() * 1000.0)
}

/// The photo-like picture of `tests/quality.rs` (`being_social_test_support::pictures::photo`).
fn photo(width: u32, height: u32) -> RgbImage {
    let pixels = being_social_test_support::pictures::photo(width, height);
    RgbImage::from_raw(width, height, pixels).unwrap()
}

/// EXIF with orientation 6 only.
fn exif_orientation_6() -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&[6, 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff
}

/// The photos measured: `$PHOTO` if set, and the generated one.
fn photos() -> Vec<(String, Vec<u8>)> {
    let mut photos = Vec::new();
    if let Some(path) = std::env::var_os("PHOTO") {
        photos.push((
            path.to_string_lossy().into_owned(),
            std::fs::read(&path).unwrap(),
        ));
    }
    let image = photo(4032, 3024);
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 92)
        .encode_image(&image)
        .unwrap();
    photos.push((
        "generated 4032x3024 q92".to_owned(),
        jpeg_with_exif(&plain, &exif_orientation_6()),
    ));
    photos
}

/// Mean SSIM of the luma of two pictures of one size (`being_social_test_support::pictures`).
fn ssim(a: &GrayImage, b: &GrayImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (width, height) = a.dimensions();
    being_social_test_support::pictures::ssim(a.as_raw(), b.as_raw(), width, height)
}

/// The renditions of a post as `Plan::render` makes them, before encoding, with the time of
/// each step printed.
fn renditions(bytes: &[u8]) -> Vec<(&'static str, DynamicImage)> {
    let (t, plan) = fastest(|| Plan::new(bytes, ImagePurpose::Post, &ImageLimits::default()));
    let plan = plan.unwrap();
    println!("  header and plan      {}", ms(t));
    let (t, decoded) = fastest(|| plan.header.decode(bytes, plan.target).unwrap());
    println!(
        "  decode {}x{}     {}",
        decoded.width(),
        decoded.height(),
        ms(t)
    );
    let (t, mut display) = fastest(|| resize(decoded.clone(), plan.crop, plan.display).unwrap());
    println!("  resize to display    {}", ms(t));
    let (t, turned) = fastest(|| {
        let mut turned = display.clone();
        turned.apply_orientation(plan.header.orientation);
        turned
    });
    println!("  orientation {:?} {}", plan.header.orientation, ms(t));
    display = turned;
    if let Some(icc) = &plan.header.icc {
        let (t, converted) = fastest(|| {
            let mut converted = display.clone();
            to_srgb(&mut converted, icc);
            converted
        });
        println!("  ICC to sRGB          {}", ms(t));
        display = converted;
    }
    let whole = |image: &DynamicImage| (0, 0, image.width(), image.height());
    let size = fit_within(display.width(), display.height(), plan.medium_edge.unwrap());
    let (t, medium) = fastest(|| resize(display.clone(), whole(&display), size).unwrap());
    println!("  resize to medium     {}", ms(t));
    let (t, thumbnail) =
        fastest(|| resize(medium.clone(), whole(&medium), plan.thumbnail).unwrap());
    println!("  resize to thumbnail  {}", ms(t));
    let (t, _) = fastest(|| placeholder(&thumbnail).unwrap());
    println!("  placeholder          {}", ms(t));
    vec![
        ("display", display),
        ("medium", medium),
        ("thumbnail", thumbnail),
    ]
}

/// Calls `measure` with each rendition of each photo (see [`renditions`]) and its reference: the
/// whole photo decoded in full, turned upright and resized to the rendition's size with Lanczos3
/// (as in `tests/quality.rs`).
fn for_each_rendition(mut measure: impl FnMut(&str, &DynamicImage, &DynamicImage)) {
    for (name, bytes) in photos() {
        println!("{name}");
        let mut full = image::load_from_memory(&bytes).unwrap();
        let plan = Plan::new(&bytes, ImagePurpose::Post, &ImageLimits::default()).unwrap();
        full.apply_orientation(plan.header.orientation);
        for (rendition, image) in renditions(&bytes) {
            let (w, h) = (image.width(), image.height());
            let reference = full.resize_exact(w, h, image::imageops::FilterType::Lanczos3);
            measure(rendition, &image, &reference);
        }
    }
}

#[test]
#[ignore = "a measurement: run by hand in release, with --nocapture"]
fn timings_of_each_step() {
    for (name, bytes) in photos() {
        println!("{name}, {} bytes", bytes.len());
        for (rendition, image) in renditions(&bytes) {
            let (w, h) = (image.width(), image.height());
            let (t, plain) = fastest(|| encode_plain(&image).unwrap());
            println!(
                "  {rendition} {w}x{h} {:?}: {}, {} bytes",
                plain.format,
                ms(t),
                plain.bytes.len()
            );
            let (t, webp) = fastest(|| encode_webp(&image).unwrap());
            println!(
                "  {rendition} {w}x{h} WebP: {}, {} bytes",
                ms(t),
                webp.len()
            );
        }
        let plan = Plan::new(&bytes, ImagePurpose::Post, &ImageLimits::default()).unwrap();
        let (t, _) = fastest(|| plan.render(&bytes).unwrap());
        println!("  everything (render)  {}", ms(t));
        if let Some(cpu) = cpu_per_run(20, || plan.header.decode(&bytes, plan.target).unwrap()) {
            println!("  decode, CPU of all threads, mean of 20       {}", ms(cpu));
        }
        if let Some(cpu) = cpu_per_run(20, || plan.render(&bytes).unwrap()) {
            println!("  everything, CPU of all threads, mean of 20   {}", ms(cpu));
        }
        // For comparison: every pixel, with `image`'s decoder (zune-jpeg, SIMD, no DCT scaling).
        let (t, _) = fastest(|| image::load_from_memory(&bytes).unwrap());
        println!("  full decode with zune-jpeg, 4032x3024       {}", ms(t));
        if let Some(cpu) = cpu_per_run(10, || image::load_from_memory(&bytes).unwrap()) {
            println!("  the same, CPU of all threads, mean of 10     {}", ms(cpu));
        }
    }
}

/// libwebp's settings on each rendition: time, size and SSIM against the reference of
/// `tests/quality.rs` (a full decode, turned upright, resized with Lanczos3).
#[test]
#[ignore = "a measurement: run by hand in release, with --nocapture"]
fn timings_of_webp_settings() {
    type Tweak = fn(&mut webp::WebPConfig);
    let settings: Vec<(&str, Tweak)> = vec![
        ("m4 (before)", |_| {}),
        ("m3", |c| c.method = 3),
        ("m2", |c| c.method = 2),
        ("m1", |c| c.method = 1),
        ("m0", |c| c.method = 0),
        ("m4 seg1", |c| c.segments = 1),
        ("m4 pass1 part3", |c| {
            c.pass = 1;
            c.partitions = 3;
        }),
        ("m4 filter0", |c| c.filter_strength = 0),
        ("m4 thread", |c| c.thread_level = 1),
        ("m2 seg1", |c| {
            c.method = 2;
            c.segments = 1;
        }),
        ("m0 seg1 filter0", |c| {
            c.method = 0;
            c.segments = 1;
            c.filter_strength = 0;
        }),
        ("m0 sns0", |c| {
            c.method = 0;
            c.sns_strength = 0;
        }),
        ("m0 q90", |c| {
            c.method = 0;
            c.quality = 90.0;
        }),
    ];
    for_each_rendition(|rendition, image, reference| {
        let (w, h) = (image.width(), image.height());
        let reference = reference.to_luma8();
        let plain = encode_plain(image).unwrap();
        let decoded = image::load_from_memory(&plain.bytes).unwrap().to_luma8();
        println!(
            "  {rendition} {w}x{h} JPEG: {} bytes, SSIM {:.4}",
            plain.bytes.len(),
            ssim(&decoded, &reference)
        );
        let rgb = image.to_rgb8();
        for (setting, tweak) in &settings {
            let mut config = webp::WebPConfig::new().unwrap();
            config.quality = WEBP_QUALITY;
            config.method = WEBP_METHOD;
            tweak(&mut config);
            let (t, webp) = fastest(|| {
                webp::Encoder::from_rgb(rgb.as_raw(), w, h)
                    .encode_advanced(&config)
                    .unwrap()
                    .to_vec()
            });
            let decoded = image::load_from_memory(&webp).unwrap().to_luma8();
            println!(
                "    WebP {setting:16} {}, {:8} bytes ({:3.0} % of JPEG), SSIM {:.4}",
                ms(t),
                webp.len(),
                100.0 * webp.len() as f64 / plain.bytes.len() as f64,
                ssim(&decoded, &reference)
            );
        }
    });
}

/// `rgb` as a JPEG by `jpeg-encoder`, at `sampling`, with or without its optimised Huffman tables.
fn jpeg_encoder_with(
    rgb: &RgbImage,
    quality: u8,
    sampling: jpeg_encoder::SamplingFactor,
    optimized: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(sampling);
    encoder.set_optimized_huffman_tables(optimized);
    let (w, h) = rgb.dimensions();
    encoder
        .encode(
            rgb.as_raw(),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

/// JPEG encoders on each rendition: `image`'s (4:4:4), and `jpeg-encoder`'s at 4:4:4 and 4:2:0,
/// with their time, size and SSIM against the reference.
#[test]
#[ignore = "a measurement: run by hand in release, with --nocapture"]
fn timings_of_jpeg_encoders() {
    use jpeg_encoder::SamplingFactor;
    type Encode = fn(&RgbImage, u8) -> Vec<u8>;
    let encoders: Vec<(&str, Encode)> = vec![
        ("image 4:4:4", |rgb, quality| {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                .encode_image(rgb)
                .unwrap();
            out
        }),
        ("jpeg-encoder 4:4:4", |rgb, quality| {
            jpeg_encoder_with(rgb, quality, SamplingFactor::F_1_1, false)
        }),
        ("jpeg-encoder 4:2:0", |rgb, quality| {
            jpeg_encoder_with(rgb, quality, SamplingFactor::F_2_2, false)
        }),
        ("jpeg-encoder 4:2:0 opt", |rgb, quality| {
            jpeg_encoder_with(rgb, quality, SamplingFactor::F_2_2, true)
        }),
    ];
    for_each_rendition(|rendition, image, reference| {
        let (w, h) = (image.width(), image.height());
        let rgb = image.to_rgb8();
        println!("  {rendition} {w}x{h}");
        for quality in [85, 88, 90] {
            for (encoder, encode) in &encoders {
                let (t, jpeg) = fastest(|| encode(&rgb, quality));
                let decoded = image::load_from_memory(&jpeg).unwrap();
                println!(
                    "    q{quality} {encoder:24} {}, {:8} bytes, SSIM {:.4} (of the \
                     rendition itself {:.4})",
                    ms(t),
                    jpeg.len(),
                    ssim(&decoded.to_luma8(), &reference.to_luma8()),
                    ssim(&decoded.to_luma8(), &image.to_luma8()),
                );
            }
        }
    });
}
