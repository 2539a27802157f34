//! Decoding, orienting, resizing and re-encoding pictures with the `image` crate.
//!
//! Uploads are untrusted: the format is read from the bytes (never from a file name or a
//! client's content type), the pixel count is checked from the header before anything is
//! decoded, and the decoder runs under allocation limits against decompression bombs. The output
//! is re-encoded from pixels alone, so no metadata of the upload (EXIF with GPS position, XMP,
//! comments, ICC profiles) survives; the EXIF orientation is applied to the pixels first, since
//! it would otherwise be lost with the rest and phone photos would come out sideways.
//!
//! All of it is CPU work and runs on tokio's blocking pool.

use std::io::Cursor;

use async_trait::async_trait;
use being_social_domain::model::{EncodedImage, ImageFormat, ImagePurpose, ProcessedImage};
use being_social_domain::ports::ImageProcessor;
use being_social_domain::{DomainError, Result};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageError, ImageReader};

/// A good balance of size and quality for photos; visible artefacts start below about 80.
const JPEG_QUALITY: u8 = 85;

/// What the processor accepts and produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted width × height, checked from the header before decoding.
    pub max_pixels: u64,
    /// Longest edge of the display image of a post; smaller pictures are not enlarged.
    pub max_display_edge: u32,
    /// Longest edge of a thumbnail.
    pub max_thumbnail_edge: u32,
    /// Edge of the square avatar; smaller pictures are not enlarged.
    pub avatar_edge: u32,
    /// Most memory the decoder may allocate, including the decoded pixels.
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_display_edge: 2048,
            max_thumbnail_edge: 320,
            avatar_edge: 512,
            // Enough for the largest accepted picture at 16 bits per channel with alpha
            // (40 MP × 8 bytes = 320 MB), which is the worst a PNG can decode to.
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// [`ImageProcessor`] with the pure-Rust decoders of the `image` crate.
#[derive(Debug, Clone, Default)]
pub struct RustImageProcessor {
    limits: ImageLimits,
}

impl RustImageProcessor {
    pub fn new(limits: ImageLimits) -> Self {
        Self { limits }
    }

    pub fn limits(&self) -> &ImageLimits {
        &self.limits
    }
}

#[async_trait]
impl ImageProcessor for RustImageProcessor {
    async fn process(&self, bytes: Vec<u8>, purpose: ImagePurpose) -> Result<ProcessedImage> {
        let limits = self.limits.clone();
        tokio::task::spawn_blocking(move || process(&bytes, purpose, &limits))
            .await
            .map_err(|e| DomainError::internal(format!("image processing task failed: {e}")))?
    }
}

fn process(bytes: &[u8], purpose: ImagePurpose, limits: &ImageLimits) -> Result<ProcessedImage> {
    let image = to_8_bit(decode(bytes, limits)?);
    let (width, height) = (image.width(), image.height());
    let (display, thumbnail) = match purpose {
        ImagePurpose::Post => {
            let (dw, dh) = fit_within(width, height, limits.max_display_edge);
            let display = shrink(&image, dw, dh);
            drop(image);
            // Computed from the original size, so the thumbnail's aspect ratio does not carry
            // the display image's rounding.
            let (tw, th) = fit_within(width, height, limits.max_thumbnail_edge);
            let thumbnail = shrink(&display, tw, th);
            (display, thumbnail)
        }
        ImagePurpose::Avatar => {
            let side = width.min(height);
            let square = image.crop_imm((width - side) / 2, (height - side) / 2, side, side);
            drop(image);
            let edge = side.min(limits.avatar_edge.max(1));
            let display = shrink(&square, edge, edge);
            drop(square);
            let thumb_edge = edge.min(limits.max_thumbnail_edge.max(1));
            let thumbnail = shrink(&display, thumb_edge, thumb_edge);
            (display, thumbnail)
        }
    };
    Ok(ProcessedImage {
        display: encode(&display)?,
        thumbnail: encode(&thumbnail)?,
    })
}

fn too_large(limits: &ImageLimits) -> DomainError {
    #[allow(clippy::cast_precision_loss)] // a pixel count far below 2^52
    let megapixels = limits.max_pixels as f64 / 1_000_000.0;
    DomainError::BadRequest {
        code: "image_too_large",
        detail: format!("The picture has more than {megapixels} megapixels."),
    }
}

/// Limits hit while decoding mean the picture is too big; any other failure means the bytes are
/// not a picture we can read (garbage, truncated, or a variant the decoder does not support).
fn decode_error(limits: &ImageLimits) -> impl Fn(ImageError) -> DomainError + '_ {
    move |e| match e {
        ImageError::Limits(e) => {
            tracing::debug!(error = %e, "picture rejected by decoder limits");
            too_large(limits)
        }
        e => {
            tracing::debug!(error = %e, "picture could not be decoded");
            DomainError::UnsupportedMediaType
        }
    }
}

fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| DomainError::UnsupportedMediaType)?;
    match reader.format() {
        Some(
            image::ImageFormat::Jpeg
            | image::ImageFormat::Png
            | image::ImageFormat::WebP
            | image::ImageFormat::Gif,
        ) => {}
        _ => return Err(DomainError::UnsupportedMediaType),
    }

    let mut decoder_limits = image::Limits::default();
    // No edge can be longer than the pixel limit allows; the decoder checks this from the header.
    let max_edge = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    decoder_limits.max_image_width = Some(max_edge);
    decoder_limits.max_image_height = Some(max_edge);
    decoder_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(decoder_limits);

    // Building the decoder reads only the header.
    let mut decoder = reader.into_decoder().map_err(decode_error(limits))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(DomainError::UnsupportedMediaType);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels
        || decoder.total_bytes() > limits.max_alloc_bytes
    {
        return Err(too_large(limits));
    }
    // A broken EXIF block is no reason to refuse the pixels: show the picture as stored.
    let orientation = decoder.orientation().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "unreadable EXIF orientation; ignoring it");
        Orientation::NoTransforms
    });
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error(limits))?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Brings the pixels to 8 bits per channel, the depth both output encoders are used with, while
/// keeping grey as grey and keeping alpha only where the source has it.
fn to_8_bit(image: DynamicImage) -> DynamicImage {
    match image.color() {
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => image,
        ColorType::L16 => DynamicImage::ImageLuma8(image.into_luma8()),
        ColorType::La16 => DynamicImage::ImageLumaA8(image.into_luma_alpha8()),
        color if color.has_alpha() => DynamicImage::ImageRgba8(image.into_rgba8()),
        _ => DynamicImage::ImageRgb8(image.into_rgb8()),
    }
}

/// The size of a `width`×`height` picture scaled down so that its long edge is at most `edge`;
/// never larger than the picture itself, and never thinner than one pixel.
fn fit_within(width: u32, height: u32, edge: u32) -> (u32, u32) {
    let edge = edge.max(1);
    let long = width.max(height);
    if long <= edge {
        return (width, height);
    }
    let scale = |side: u32| -> u32 {
        // Rounded to nearest: side × edge / long, in integers to stay exact.
        let scaled = (u64::from(side) * u64::from(edge) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(edge).clamp(1, edge)
    };
    (scale(width), scale(height))
}

/// Resizes to exactly `width`×`height` (a copy when that is the current size).
fn shrink(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    if (width, height) == (image.width(), image.height()) {
        return image.clone();
    }
    // A filtered resize of a very large picture goes through a float image as wide as the source;
    // averaging it down to twice the target first is one cheap pass, and the filter then only
    // does the last, small step.
    let (pre_width, pre_height) = (width.saturating_mul(2), height.saturating_mul(2));
    if image.width() >= width.saturating_mul(4) && image.height() >= height.saturating_mul(4) {
        return image.thumbnail_exact(pre_width, pre_height).resize_exact(
            width,
            height,
            FilterType::CatmullRom,
        );
    }
    image.resize_exact(width, height, FilterType::CatmullRom)
}

/// PNG when the picture has an alpha channel (JPEG cannot hold transparency), JPEG otherwise.
/// The encoders are given pixels only: no EXIF, ICC profile or other metadata is written.
fn encode(image: &DynamicImage) -> Result<EncodedImage> {
    let mut bytes = Vec::new();
    let format = if image.color().has_alpha() {
        image
            .write_with_encoder(PngEncoder::new_with_quality(
                &mut bytes,
                CompressionType::Default,
                PngFilter::Adaptive,
            ))
            .map(|()| ImageFormat::Png)
    } else {
        image
            .write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY))
            .map(|()| ImageFormat::Jpeg)
    }
    .map_err(|e| DomainError::internal(format!("image encoding failed: {e}")))?;
    Ok(EncodedImage {
        bytes,
        format,
        width: image.width(),
        height: image.height(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use image::{GenericImageView, Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;

    fn encode_as(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        encode_as(&DynamicImage::ImageRgb8(image), image::ImageFormat::Jpeg)
    }

    fn decoded(encoded: &EncodedImage) -> DynamicImage {
        let format = match encoded.format {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
        };
        let image = image::load_from_memory_with_format(&encoded.bytes, format).unwrap();
        assert_eq!(image.dimensions(), (encoded.width, encoded.height));
        image
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    async fn run(bytes: Vec<u8>, purpose: ImagePurpose) -> Result<ProcessedImage> {
        RustImageProcessor::default().process(bytes, purpose).await
    }

    fn assert_too_large(result: Result<ProcessedImage>) {
        match result {
            Err(DomainError::BadRequest { code, detail }) => {
                assert_eq!(code, "image_too_large");
                assert!(detail.contains("megapixels"), "{detail}");
            }
            other => panic!("expected image_too_large, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn large_jpeg_is_scaled_down() {
        let out = run(jpeg(3000, 1000), ImagePurpose::Post).await.unwrap();
        assert_eq!(out.display.format, ImageFormat::Jpeg);
        assert_eq!((out.display.width, out.display.height), (2048, 683));
        assert_eq!(out.thumbnail.format, ImageFormat::Jpeg);
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 107));
        decoded(&out.display);
        decoded(&out.thumbnail);
    }

    #[tokio::test]
    async fn small_pictures_are_not_enlarged() {
        let out = run(jpeg(200, 100), ImagePurpose::Post).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (200, 100));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (200, 100));
    }

    #[tokio::test]
    async fn transparent_png_stays_png_with_alpha() {
        let image = RgbaImage::from_fn(400, 200, |x, _| {
            if x < 200 {
                Rgba([255, 0, 0, 0])
            } else {
                Rgba([0, 0, 255, 255])
            }
        });
        let png = encode_as(&DynamicImage::ImageRgba8(image), image::ImageFormat::Png);
        let out = run(png, ImagePurpose::Post).await.unwrap();
        for encoded in [&out.display, &out.thumbnail] {
            assert_eq!(encoded.format, ImageFormat::Png);
            let image = decoded(encoded);
            assert!(image.color().has_alpha());
            assert_eq!(image.get_pixel(0, 0).0[3], 0);
            assert_eq!(image.get_pixel(encoded.width - 1, 0).0[3], 255);
        }
    }

    #[tokio::test]
    async fn opaque_formats_become_jpeg() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(64, 48, Rgb([10, 200, 30])));
        let png = encode_as(&image, image::ImageFormat::Png);
        let webp = encode_as(&image, image::ImageFormat::WebP);
        for bytes in [png, webp] {
            let out = run(bytes, ImagePurpose::Post).await.unwrap();
            assert_eq!(out.display.format, ImageFormat::Jpeg);
            assert_eq!((out.display.width, out.display.height), (64, 48));
        }
    }

    #[tokio::test]
    async fn gif_is_accepted() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(30, 20, Rgba([1, 2, 3, 255])));
        let gif = encode_as(&image, image::ImageFormat::Gif);
        let out = run(gif, ImagePurpose::Post).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (30, 20));
        decoded(&out.display);
    }

    #[tokio::test]
    async fn avatars_are_square() {
        let out = run(jpeg(1000, 800), ImagePurpose::Avatar).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (512, 512));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 320));

        let out = run(jpeg(300, 200), ImagePurpose::Avatar).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (200, 200));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (200, 200));
        decoded(&out.display);
        decoded(&out.thumbnail);
    }

    #[tokio::test]
    async fn garbage_is_unsupported() {
        let png = encode_as(
            &DynamicImage::ImageRgb8(RgbImage::from_pixel(50, 50, Rgb([1, 2, 3]))),
            image::ImageFormat::Png,
        );
        let truncated_png = png[..png.len() / 2].to_vec();
        // A BMP signature: recognised, but not a format we take.
        let bmp = b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec();
        for bytes in [
            Vec::new(),
            b"this is not a picture at all".to_vec(),
            vec![0xFF, 0xD8, 0xFF],
            truncated_png,
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
            bmp,
        ] {
            assert!(
                matches!(
                    run(bytes.clone(), ImagePurpose::Post).await,
                    Err(DomainError::UnsupportedMediaType)
                ),
                "{:?}",
                &bytes[..bytes.len().min(16)]
            );
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// A few dozen bytes whose header claims a 50000×50000 picture: a decompression bomb's shape.
    fn huge_png_header() -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&50_000u32.to_be_bytes());
        ihdr.extend_from_slice(&50_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
        png_chunk(&mut png, b"IHDR", &ihdr);
        png_chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        png_chunk(&mut png, b"IEND", &[]);
        png
    }

    #[tokio::test]
    async fn huge_header_is_too_large() {
        assert_too_large(run(huge_png_header(), ImagePurpose::Post).await);
    }

    #[tokio::test]
    async fn pixel_limit_is_checked() {
        let processor = RustImageProcessor::new(ImageLimits {
            max_pixels: 10_000,
            ..ImageLimits::default()
        });
        assert_too_large(processor.process(jpeg(101, 100), ImagePurpose::Post).await);
        assert!(
            processor
                .process(jpeg(100, 100), ImagePurpose::Post)
                .await
                .is_ok()
        );
        assert_eq!(
            too_large(processor.limits()).to_string(),
            "The picture has more than 0.01 megapixels."
        );
        assert_eq!(
            too_large(&ImageLimits::default()).to_string(),
            "The picture has more than 40 megapixels."
        );
    }

    /// A JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6).
    fn jpeg_with_orientation_6() -> Vec<u8> {
        // Left half red, right half blue, 300×100 as stored.
        let image = RgbImage::from_fn(300, 100, |x, _| {
            if x < 150 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let plain = encode_as(&DynamicImage::ImageRgb8(image), image::ImageFormat::Jpeg);
        assert_eq!(&plain[..2], &[0xFF, 0xD8]);

        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(b"II*\0"); // little-endian TIFF
        payload.extend_from_slice(&8u32.to_le_bytes()); // first IFD right after the header
        payload.extend_from_slice(&1u16.to_le_bytes()); // one entry
        payload.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        payload.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        payload.extend_from_slice(&1u32.to_le_bytes()); // one value
        payload.extend_from_slice(&[6, 0, 0, 0]); // 6, padded to four bytes
        payload.extend_from_slice(&0u32.to_le_bytes()); // no next IFD

        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[tokio::test]
    async fn exif_orientation_is_applied_and_dropped() {
        let input = jpeg_with_orientation_6();
        assert!(contains(&input, b"Exif"));
        let out = run(input, ImagePurpose::Post).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (100, 300));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (100, 300));
        for encoded in [&out.display, &out.thumbnail] {
            assert!(!contains(&encoded.bytes, b"Exif"));
            assert!(!contains(&encoded.bytes, b"http://ns.adobe.com/xap"));
        }
        // Turned clockwise, the left (red) half of the stored picture is now on top.
        let image = decoded(&out.display).to_rgb8();
        let top = image.get_pixel(50, 20).0;
        let bottom = image.get_pixel(50, 280).0;
        assert!(top[0] > 200 && top[2] < 60, "{top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");
    }

    #[test]
    fn fitting() {
        assert_eq!(fit_within(3000, 1000, 2048), (2048, 683));
        assert_eq!(fit_within(1000, 3000, 320), (107, 320));
        assert_eq!(fit_within(100, 50, 2048), (100, 50));
        assert_eq!(fit_within(100_000, 1, 2048), (2048, 1));
        assert_eq!(fit_within(10, 10, 0), (1, 1));
    }
}
