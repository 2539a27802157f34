//! Reading an upload: first its header (format, size, orientation, and what decoding it will
//! cost), then its pixels, always 8 bits per channel.
//!
//! The format comes from the bytes, never from a name or a declared type. JPEGs are decoded with
//! `jpeg-decoder` at the smallest DCT scale (1/8 to 8/8) that still covers the largest rendition,
//! so a 12-megapixel photo is decoded at a quarter of its pixels; PNGs with the `png` crate, 16-bit
//! ones straight to 8 bits; GIF (first frame) and WebP with the `image` crate's decoders.

use std::io::Cursor;

use being_social_domain::{DomainError, Result};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageReader, RgbImage};

/// What the header says, enough to plan the work and its memory before decoding.
#[derive(Debug, Clone)]
pub(super) struct Header {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Channels of the decoded 8-bit pixels: 1 (grey), 2 (grey and alpha), 3 (RGB), 4 (RGBA).
    pub channels: u8,
    pub orientation: Orientation,
    /// The embedded ICC profile of an RGB picture (Display P3 from phones, Adobe RGB from
    /// cameras), if it has one of at most [`MAX_ICC_BYTES`].
    pub icc: Option<Vec<u8>>,
}

/// The largest ICC profile read. Matrix profiles (sRGB, Display P3, Adobe RGB) take a few hundred
/// bytes to a few kilobytes, LUT profiles of cameras up to some hundreds; JPEG allows 16 MB.
pub(super) const MAX_ICC_BYTES: usize = 1 << 20;

fn rgb_profile(icc: Option<Vec<u8>>, channels: u8) -> Option<Vec<u8>> {
    icc.filter(|icc| icc.len() <= MAX_ICC_BYTES && channels >= 3)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `coefficient_bytes`: every component's DCT coefficients, two bytes each. A progressive
    /// JPEG's decoder holds them all for its scans; a baseline one's hands each row of them to
    /// a worker thread per component through a queue without bound, which holds them all in the
    /// worst case (a worker starved of CPU while the decoder runs on: a 12 MP 4:4:4 picture for
    /// an avatar, reserved 8.4 MiB without them, peaked at 9.6 MiB on a loaded machine).
    Jpeg {
        components: u8,
        coefficient_bytes: u64,
        progressive: bool,
    },
    Png,
    Gif,
    WebP,
}

/// Bytes a decoder may allocate for metadata (ICC profiles, EXIF, text) beside the pixels.
const METADATA_BYTES: usize = 16 * 1024 * 1024;

impl Header {
    /// Reads the header of `bytes`, passing its size to `check` as soon as it is known, before
    /// the decoder allocates anything for it.
    ///
    /// # Errors
    /// `UnsupportedMediaType` for anything but a readable JPEG, PNG, GIF or WebP header, and what
    /// `check` returns.
    pub fn read(bytes: &[u8], check: impl Fn(u32, u32) -> Result<()>) -> Result<Self> {
        match image::guess_format(bytes).map_err(unsupported)? {
            image::ImageFormat::Jpeg => jpeg_header(bytes, check),
            image::ImageFormat::Png => png_header(bytes, check),
            format @ (image::ImageFormat::Gif | image::ImageFormat::WebP) => {
                let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
                    .into_decoder()
                    .map_err(unsupported)?;
                let (width, height) = decoder.dimensions();
                check(width, height)?;
                let color = decoder.color_type();
                let channels = match (color.has_color(), color.has_alpha()) {
                    (false, false) => 1,
                    (false, true) => 2,
                    (true, false) => 3,
                    (true, true) => 4,
                };
                Ok(Self {
                    format: if format == image::ImageFormat::Gif {
                        Format::Gif
                    } else {
                        Format::WebP
                    },
                    width,
                    height,
                    channels,
                    orientation: decoder.orientation().unwrap_or(Orientation::NoTransforms),
                    icc: rgb_profile(decoder.icc_profile().ok().flatten(), channels),
                })
            }
            _ => Err(DomainError::UnsupportedMediaType),
        }
    }

    /// The size the pixels come out at when decoding for a rendition of `target` (in the stored
    /// orientation): for a JPEG the smallest DCT scale n/8 that covers it within 2 % (a 4032 px
    /// photo halves to 2016 px for a 2048 px rendition, a quarter of the pixels to decode, rather
    /// than decoding all of them for 32 more), the full size otherwise.
    pub fn decoded_size(&self, target: (u32, u32)) -> (u32, u32) {
        match self.format {
            Format::Jpeg { .. } => {
                let scaled = |side: u32, n: u32| (u64::from(side) * u64::from(n)).div_ceil(8);
                let covers =
                    |side: u32, n: u32, wanted: u32| scaled(side, n) * 50 >= u64::from(wanted) * 49;
                let n = [1, 2, 4, 8]
                    .into_iter()
                    .find(|&n| covers(self.width, n, target.0) && covers(self.height, n, target.1))
                    .unwrap_or(8);
                let side = |s: u32| u32::try_from(scaled(s, n)).unwrap_or(s);
                (side(self.width), side(self.height))
            }
            _ => (self.width, self.height),
        }
    }

    /// An upper bound of the bytes that decoding for `target` allocates at once, the decoded
    /// pixels included (measured per format by `tests/image_memory.rs`).
    pub fn decoding_bytes(&self, target: (u32, u32)) -> u64 {
        let (width, height) = self.decoded_size(target);
        let decoded = u64::from(width) * u64::from(height);
        let full = u64::from(self.width) * u64::from(self.height);
        let pixels = decoded * u64::from(self.channels);
        let working = match self.format {
            // One plane per component at the decoded size before colour conversion, plus the
            // coefficients at full size (see `Format::Jpeg`), and for a progressive picture one
            // full-size plane more:
            // jpeg-decoder's worker threads convert components while others still hold theirs,
            // and how much overlaps depends on their timing (a 12 MP 4:4:4 picture for an
            // avatar peaked at 94 MiB on a loaded machine, 10 MiB over the coefficients and
            // planes alone; one plane is 11 MiB, and two put a 40 MP picture over the budget).
            Format::Jpeg {
                components,
                coefficient_bytes,
                progressive,
            } => {
                let overlap = if progressive { full } else { 0 };
                decoded * u64::from(components) + coefficient_bytes + overlap
            }
            // Rows only (two of them at 16 bits and 4 channels).
            Format::Png => u64::from(self.width) * 16,
            // The frame as palette indices and the canvas it is drawn on.
            Format::Gif => full * 5,
            // A lossless picture's 32-bit pixels, or a lossy one's planes.
            Format::WebP => full * 4,
        };
        pixels + working
    }

    /// Decodes the pixels for a rendition of `target`, as 8-bit grey, grey and alpha, RGB or
    /// RGBA.
    ///
    /// # Errors
    /// `UnsupportedMediaType` when the data is broken, truncated or of a variant the decoder does
    /// not support.
    pub fn decode(&self, bytes: &[u8], target: (u32, u32)) -> Result<DynamicImage> {
        let size = self.decoded_size(target);
        let image = match self.format {
            // jpeg-decoder picks the least scale that covers what it is asked for: this size.
            Format::Jpeg { .. } => decode_jpeg(bytes, size)?,
            Format::Png => decode_png(bytes)?,
            Format::Gif | Format::WebP => {
                let mut reader = ImageReader::new(Cursor::new(bytes))
                    .with_guessed_format()
                    .map_err(unsupported)?;
                let mut limits = image::Limits::default();
                limits.max_alloc = Some(self.decoding_bytes(target));
                reader.limits(limits);
                to_8_bit(reader.decode().map_err(unsupported)?)
            }
        };
        if (image.width(), image.height()) != size {
            // A decoder that disagrees with its own header: refuse rather than trust either.
            return Err(DomainError::UnsupportedMediaType);
        }
        Ok(image)
    }
}

fn unsupported(e: impl std::fmt::Display) -> DomainError {
    tracing::debug!(error = %e, "picture could not be decoded");
    DomainError::UnsupportedMediaType
}

fn orientation_of(exif: Option<&[u8]>) -> Orientation {
    exif.and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms)
}

fn jpeg_decoder(bytes: &[u8]) -> jpeg_decoder::Decoder<Cursor<&[u8]>> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(usize::MAX);
    decoder
}

fn jpeg_header(bytes: &[u8], check: impl Fn(u32, u32) -> Result<()>) -> Result<Header> {
    let mut decoder = jpeg_decoder(bytes);
    decoder.read_info().map_err(unsupported)?;
    let info = decoder.info().ok_or(DomainError::UnsupportedMediaType)?;
    check(u32::from(info.width), u32::from(info.height))?;
    let (channels, components) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (1, 1),
        jpeg_decoder::PixelFormat::RGB24 => (3, 3),
        jpeg_decoder::PixelFormat::CMYK32 => (3, 4),
        // 16-bit grey comes only from lossless JPEGs, which are not photos one posts.
        jpeg_decoder::PixelFormat::L16 => return Err(DomainError::UnsupportedMediaType),
    };
    let progressive = match info.coding_process {
        jpeg_decoder::CodingProcess::DctSequential => false,
        jpeg_decoder::CodingProcess::DctProgressive => true,
        jpeg_decoder::CodingProcess::Lossless => return Err(DomainError::UnsupportedMediaType),
    };
    let coefficient_bytes = coefficient_bytes(bytes).ok_or(DomainError::UnsupportedMediaType)?;
    Ok(Header {
        format: Format::Jpeg {
            components,
            coefficient_bytes,
            progressive,
        },
        width: u32::from(info.width),
        height: u32::from(info.height),
        channels,
        orientation: orientation_of(decoder.exif_data()),
        // A CMYK picture's profile describes inks, not the RGB that cmyk_to_rgb makes.
        icc: rgb_profile(
            decoder.icc_profile(),
            if components == 4 { 0 } else { channels },
        ),
    })
}

/// The coefficient memory of a JPEG: for each component, its blocks (8×8, at its
/// sampling of the picture, whole MCUs) × 64 coefficients × 2 bytes. Read from the frame header
/// (SOF), which jpeg-decoder parses but does not show.
fn coefficient_bytes(bytes: &[u8]) -> Option<u64> {
    let mut at = 2; // after SOI
    loop {
        // Markers may be preceded by fill bytes (0xFF).
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        let segment = bytes.get(at + 4..at + 2 + length)?;
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let height = u64::from(u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]));
            let width = u64::from(u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]));
            let count = usize::from(*segment.get(5)?);
            let sampling: Vec<(u64, u64)> = (0..count)
                .map(|c| {
                    let hv = *segment.get(6 + 3 * c + 1)?;
                    Some((u64::from(hv >> 4).max(1), u64::from(hv & 0x0F).max(1)))
                })
                .collect::<Option<_>>()?;
            let h_max = sampling.iter().map(|s| s.0).max()?;
            let v_max = sampling.iter().map(|s| s.1).max()?;
            let (mcus_x, mcus_y) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
            return Some(
                sampling
                    .iter()
                    .map(|(h, v)| mcus_x * h * mcus_y * v * 64 * 2)
                    .sum(),
            );
        }
        at += 2 + length;
    }
}

fn decode_jpeg(bytes: &[u8], size: (u32, u32)) -> Result<DynamicImage> {
    let mut decoder = jpeg_decoder(bytes);
    let clamp = |side: u32| u16::try_from(side).unwrap_or(u16::MAX);
    let (width, height) = decoder
        .scale(clamp(size.0), clamp(size.1))
        .map_err(unsupported)?;
    let pixels = decoder.decode().map_err(unsupported)?;
    let info = decoder.info().ok_or(DomainError::UnsupportedMediaType)?;
    let (width, height) = (u32::from(width), u32::from(height));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        jpeg_decoder::PixelFormat::RGB24 => {
            RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            RgbImage::from_raw(width, height, cmyk_to_rgb(&pixels)).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L16 => None,
    };
    image.ok_or(DomainError::UnsupportedMediaType)
}

/// CMYK (0 = no ink, as jpeg-decoder gives it) to RGB, the naive way (no ICC profile).
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for pixel in cmyk.chunks_exact(4) {
        let white = 255 - u16::from(pixel[3]);
        for &ink in &pixel[..3] {
            let channel = (255 - u16::from(ink)) * white / 255;
            rgb.push(u8::try_from(channel).unwrap_or(u8::MAX));
        }
    }
    rgb
}

fn png_reader(bytes: &[u8]) -> Result<png::Reader<Cursor<&[u8]>>> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: METADATA_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    decoder.set_ignore_text_chunk(true);
    decoder.read_info().map_err(unsupported)
}

fn png_header(bytes: &[u8], check: impl Fn(u32, u32) -> Result<()>) -> Result<Header> {
    // The size from IHDR, which must come first, before the decoder sizes its rows by it.
    let field = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    match (bytes.get(12..16), field(16), field(20)) {
        (Some(b"IHDR"), Some(width), Some(height)) => check(width, height)?,
        _ => return Err(DomainError::UnsupportedMediaType),
    }
    let reader = png_reader(bytes)?;
    let info = reader.info();
    let channels = match reader.output_color_type().0 {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(DomainError::UnsupportedMediaType),
    };
    Ok(Header {
        format: Format::Png,
        width: info.width,
        height: info.height,
        channels,
        orientation: orientation_of(info.exif_metadata.as_deref()),
        icc: rgb_profile(info.icc_profile.as_ref().map(|icc| icc.to_vec()), channels),
    })
}

fn decode_png(bytes: &[u8]) -> Result<DynamicImage> {
    let mut reader = png_reader(bytes)?;
    let size = reader
        .output_buffer_size()
        .ok_or(DomainError::UnsupportedMediaType)?;
    let mut pixels = vec![0; size];
    let frame = reader.next_frame(&mut pixels).map_err(unsupported)?;
    pixels.truncate(frame.buffer_size());
    let (width, height) = (frame.width, frame.height);
    let image = match frame.color_type {
        png::ColorType::Grayscale => {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        png::ColorType::GrayscaleAlpha => {
            image::GrayAlphaImage::from_raw(width, height, pixels).map(DynamicImage::ImageLumaA8)
        }
        png::ColorType::Rgb => {
            RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        png::ColorType::Rgba => {
            image::RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
        }
        png::ColorType::Indexed => None,
    };
    image.ok_or(DomainError::UnsupportedMediaType)
}

/// Brings pixels to 8 bits per channel, keeping grey as grey and alpha only where it is.
fn to_8_bit(image: DynamicImage) -> DynamicImage {
    use image::ColorType;
    match image.color() {
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => image,
        ColorType::L16 => DynamicImage::ImageLuma8(image.into_luma8()),
        ColorType::La16 => DynamicImage::ImageLumaA8(image.into_luma_alpha8()),
        color if color.has_alpha() => DynamicImage::ImageRgba8(image.into_rgba8()),
        _ => DynamicImage::ImageRgb8(image.into_rgb8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_without_ink_is_white_and_full_black_is_black() {
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 255]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 0]), [0, 255, 255]);
    }

    #[test]
    fn jpeg_scale_is_the_least_that_covers_the_target() {
        let header = Header {
            format: Format::Jpeg {
                components: 3,
                coefficient_bytes: 0,
                progressive: false,
            },
            width: 4032,
            height: 3024,
            channels: 3,
            orientation: Orientation::NoTransforms,
            icc: None,
        };
        // Within 2 % of the target, half the size is enough.
        assert_eq!(header.decoded_size((2048, 1536)), (2016, 1512));
        assert_eq!(header.decoded_size((2100, 1575)), (4032, 3024));
        assert_eq!(header.decoded_size((520, 390)), (1008, 756));
        assert_eq!(header.decoded_size((320, 240)), (504, 378));
        assert_eq!(header.decoded_size((1, 1)), (504, 378));
        assert_eq!(header.decoded_size((4032, 3024)), (4032, 3024));
    }

    #[test]
    fn coefficients_follow_the_sampling() {
        // SOI, then a SOF2 of 16×16 with three components: Y at 2×2, Cb and Cr at 1×1 (4:2:0).
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x11, 8, 0, 16, 0, 16, 3]);
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        // One MCU: four Y blocks and one of each chroma, 64 coefficients of 2 bytes.
        assert_eq!(coefficient_bytes(&jpeg), Some(6 * 64 * 2));
        assert_eq!(coefficient_bytes(&jpeg[..12]), None);
    }
}
