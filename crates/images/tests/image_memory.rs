//! The memory a picture job reserves from the budget is an upper bound of what it allocates:
//! the peak heap while processing each kind of worst case (largest baseline and progressive
//! JPEGs, 4:4:4 and CMYK, 8- and 16-bit PNGs with and without alpha, GIF, WebP, long strips),
//! measured by a counting global allocator, never exceeds `RustImageProcessor::cost`. That
//! allocator sees Rust's allocations only: libjpeg's (and libwebp's) `malloc` are measured with
//! the rest by `jpeg_memory.rs`, from the process's resident memory.
//!
//! One test function, so that no other test allocates while a peak is measured.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::io::Cursor;

use being_social_domain::model::ImagePurpose;
use being_social_domain::ports::ImageProcessor;
use being_social_images::{ImageBudget, ImageLimits, RustImageProcessor};
use image::{DynamicImage, ImageBuffer, Rgb, RgbImage, Rgba};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Pixels with detail at every scale, so that encoders cannot make them trivially small.
fn pixel(x: u32, y: u32) -> [u8; 3] {
    let h = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503);
    [(x % 251) as u8, (y % 241) as u8, (h >> 24) as u8]
}

fn rgb(width: u32, height: u32) -> Vec<u8> {
    RgbImage::from_fn(width, height, |x, y| Rgb(pixel(x, y))).into_raw()
}

fn jpeg(width: u32, height: u32, progressive: bool, sampling: SamplingFactor) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 80);
    encoder.set_progressive(progressive);
    encoder.set_sampling_factor(sampling);
    encoder
        .encode(
            &rgb(width, height),
            width as u16,
            height as u16,
            ColorType::Rgb,
        )
        .unwrap();
    out
}

fn cmyk_jpeg(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = rgb(width, height)
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 40])
        .collect();
    let mut out = Vec::new();
    Encoder::new(&mut out, 80)
        .encode(&pixels, width as u16, height as u16, ColorType::Cmyk)
        .unwrap();
    out
}

fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn rgba(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(ImageBuffer::from_fn(width, height, |x, y| {
        let [r, g, b] = pixel(x, y);
        Rgba([r, g, b, (x % 256) as u8])
    }))
}

#[test]
fn no_job_allocates_more_than_it_reserves() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let processor = RustImageProcessor::new(
        ImageLimits::default(),
        ImageBudget::new(1 << 30, std::time::Duration::from_secs(60)),
    );
    let rgba16 = DynamicImage::ImageRgba16(ImageBuffer::from_fn(4000, 3000, |x, y| {
        let [r, g, b] = pixel(x, y);
        Rgba([
            u16::from(r) << 8,
            u16::from(g) << 8,
            u16::from(b) << 8,
            65535,
        ])
    }));
    let rgb40 = DynamicImage::ImageRgb8(RgbImage::from_fn(8000, 5000, |x, y| Rgb(pixel(x, y))));
    // The decoders' fixed costs are small: the cost model is checked at the sizes that matter.
    let strip = DynamicImage::ImageLuma8(ImageBuffer::from_fn(32_768, 1024, |x, y| {
        image::Luma([pixel(x, y)[2]])
    }));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "baseline JPEG 4:2:0, 24 MP",
            jpeg(6000, 4000, false, SamplingFactor::R_4_2_0),
        ),
        (
            "baseline JPEG 4:4:4, 12 MP",
            jpeg(4032, 3024, false, SamplingFactor::R_4_4_4),
        ),
        (
            "progressive JPEG 4:2:0, 24 MP",
            jpeg(6000, 4000, true, SamplingFactor::R_4_2_0),
        ),
        (
            "progressive JPEG 4:4:4, 12 MP",
            jpeg(4032, 3024, true, SamplingFactor::R_4_4_4),
        ),
        ("CMYK JPEG, 12 MP", cmyk_jpeg(4032, 3024)),
        ("RGB PNG, 40 MP", encoded(&rgb40, image::ImageFormat::Png)),
        (
            "RGBA PNG, 24 MP",
            encoded(&rgba(6000, 4000), image::ImageFormat::Png),
        ),
        (
            "16-bit RGBA PNG, 12 MP",
            encoded(&rgba16, image::ImageFormat::Png),
        ),
        (
            "grey PNG strip, 32768 x 1024",
            encoded(&strip, image::ImageFormat::Png),
        ),
        (
            "GIF, 12 MP",
            encoded(&rgba(4000, 3000), image::ImageFormat::Gif),
        ),
        (
            "lossless WebP, 12 MP",
            encoded(&rgba(4000, 3000), image::ImageFormat::WebP),
        ),
    ];
    drop((rgba16, rgb40, strip));
    let mut report = Vec::new();
    for (name, bytes) in cases {
        for purpose in [ImagePurpose::Post, ImagePurpose::Avatar] {
            let cost = processor.cost(&bytes, purpose).unwrap() as usize;
            let input = bytes.clone();
            let before = HEAP.current_usage();
            HEAP.reset_peak_usage();
            let processed = runtime.block_on(processor.process(input, purpose));
            let peak = HEAP.peak_usage().saturating_sub(before);
            assert!(processed.is_ok(), "{name}: {:?}", processed.err());
            drop(processed);
            report.push(format!(
                "{name} ({purpose:?}): peak {} MiB, reserved {} MiB",
                peak >> 20,
                cost >> 20
            ));
            assert!(
                peak <= cost,
                "{name} ({purpose:?}) allocated {peak} bytes, reserved {cost}\n{}",
                report.join("\n")
            );
        }
    }
    println!("{}", report.join("\n"));
}
