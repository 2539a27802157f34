//! Reading an upload: first its header (format, size, orientation, and what decoding it will
//! cost), then its pixels, always 8 bits per channel.
//!
//! The format comes from the bytes, never from a name or a declared type. JPEGs are decoded with
//! libjpeg-turbo (through `mozjpeg`) at the smallest DCT scale (1/8 to 8/8) that still covers the
//! largest rendition, so a 12-megapixel photo is decoded at a quarter of its pixels; their header
//! is read with `jpeg-decoder`. PNGs with the `png` crate, 16-bit ones straight to 8 bits; GIF
//! (first frame) and WebP with the `image` crate's decoders.

use std::any::Any;
use std::io::{BufRead, Cursor, Read};

use being_social_domain::{DomainError, Result};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageReader, RgbImage};
use mozjpeg::ColorSpace;

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
    /// `coefficient_bytes`: every component's DCT coefficients, two bytes each, which libjpeg
    /// holds all at once only for a picture of several scans (`whole_image`: progressive, or
    /// sequential with components in scans of their own), whose last scan may still change any
    /// block; a picture of one scan is decoded a row of blocks at a time.
    Jpeg {
        components: u8,
        coefficient_bytes: u64,
        whole_image: bool,
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
                let n = self.jpeg_scale(target);
                // libjpeg's rounding of a scaled side (`jdiv_round_up`).
                let side = |s: u32| {
                    let scaled = (u64::from(s) * u64::from(n)).div_ceil(8);
                    u32::try_from(scaled).unwrap_or(s)
                };
                (side(self.width), side(self.height))
            }
            _ => (self.width, self.height),
        }
    }

    /// The n of the DCT scale n/8 that [`Self::decoded_size`] describes.
    fn jpeg_scale(&self, target: (u32, u32)) -> u8 {
        let covers = |side: u32, n: u8, wanted: u32| {
            (u64::from(side) * u64::from(n)).div_ceil(8) * 50 >= u64::from(wanted) * 49
        };
        [1, 2, 4, 8]
            .into_iter()
            .find(|&n| covers(self.width, n, target.0) && covers(self.height, n, target.1))
            .unwrap_or(8)
    }

    /// An upper bound of the bytes that decoding for `target` allocates at once, the decoded
    /// pixels included (measured per format by `tests/image_memory.rs`, and for JPEGs with
    /// libjpeg's own allocations by `tests/jpeg_memory.rs`).
    pub fn decoding_bytes(&self, target: (u32, u32)) -> u64 {
        let (width, height) = self.decoded_size(target);
        let decoded = u64::from(width) * u64::from(height);
        let full = u64::from(self.width) * u64::from(self.height);
        let pixels = decoded * u64::from(self.channels);
        let working = match self.format {
            // libjpeg's own buffers, allocated with malloc (measured by the peak RSS of a process
            // of its own in `tests/jpeg_memory.rs`): the coefficients of a picture of several
            // scans (see `Format::Jpeg`), and a few rows of blocks of each component, their
            // upsampling and colour conversion, which `JPEG_ROWS` rows at full width bound. A
            // CMYK picture comes out with four channels, then goes to RGB in a buffer of its own.
            Format::Jpeg {
                components,
                coefficient_bytes,
                whole_image,
            } => {
                let coefficients = if whole_image { coefficient_bytes } else { 0 };
                let rows = u64::from(self.width) * u64::from(components) * JPEG_ROWS;
                let cmyk = if components == 4 { decoded * 4 } else { 0 };
                coefficients + rows + cmyk
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
            Format::Jpeg { .. } => {
                let image = decode_jpeg(bytes, self.jpeg_scale(target))?;
                // The header was read by another decoder, whose channels the memory was planned
                // for.
                if image.color().channel_count() != self.channels {
                    return Err(DomainError::UnsupportedMediaType);
                }
                image
            }
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

/// Most scans a JPEG may have: encoders write 1 (baseline) to about 10 (progressive; mozjpeg's
/// optimised scripts a few more), as djpeg's `-maxscans` and TurboJPEG's scan limit guard.
const MAX_JPEG_SCANS: usize = 100;

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
    let layout = layout(bytes)
        .filter(|l| (l.width, l.height) == (u64::from(info.width), u64::from(info.height)))
        .filter(|l| l.components == usize::from(components))
        .ok_or(DomainError::UnsupportedMediaType)?;
    Ok(Header {
        format: Format::Jpeg {
            components,
            coefficient_bytes: layout.coefficient_bytes,
            whole_image: progressive || layout.first_scan_components < components,
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

/// What libjpeg's memory depends on beyond the size, from the frame header (SOF) and the first
/// scan's (SOS), which jpeg-decoder parses but does not show.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    /// The frame's size and components, which must be the ones jpeg-decoder read.
    width: u64,
    height: u64,
    components: usize,
    /// The coefficient memory: for each component, its blocks (8×8, at its sampling of the
    /// picture, whole MCUs) × 64 coefficients × 2 bytes.
    coefficient_bytes: u64,
    first_scan_components: u8,
}

/// The header's segments, walked as libjpeg walks them when nothing stands between them: each
/// marker (after optional fill bytes) followed by its length. libjpeg also skips stray bytes and
/// stuffed `FF 00` pairs between segments, which this walk refuses (`None`): read as a marker
/// with a length, such a pair could hide a forged frame header inside a comment, and the
/// reservation would follow it while libjpeg decodes the real one.
fn layout(bytes: &[u8]) -> Option<Layout> {
    let mut at = 2; // after SOI
    let mut frame = None;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        // Markers may be preceded by fill bytes (0xFF).
        while *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at + 1)?;
        // Markers without a length (a stuffed zero, TEM, RSTn, SOI, EOI) do not belong before the
        // first scan.
        if matches!(marker, 0x00 | 0x01 | 0xD0..=0xD9) {
            return None;
        }
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
            let coefficient_bytes = sampling
                .iter()
                .map(|(h, v)| mcus_x * h * mcus_y * v * 64 * 2)
                .sum();
            frame = Some((width, height, count, coefficient_bytes));
        }
        if marker == 0xDA {
            let (width, height, components, coefficient_bytes) = frame?;
            return Some(Layout {
                width,
                height,
                components,
                coefficient_bytes,
                first_scan_components: *segment.first()?,
            });
        }
        at += 2 + length;
    }
}

/// libjpeg's buffers of a few rows of blocks, per component and pixel of the full width (see
/// `Header::decoding_bytes`).
const JPEG_ROWS: u64 = 64;

/// Decodes a JPEG at the DCT scale `scale`/8 with libjpeg-turbo.
///
/// libjpeg gives up on broken data by calling its error handler, which `mozjpeg` makes unwind
/// out of the C code (`resume_unwind`: no panic message); the unwind is caught here, with any
/// panic of the wrapper's own, so that no panic reaches the caller and a broken upload is refused
/// as before. Data that ends early is no error to libjpeg: the wrapper gives it an end marker
/// where the bytes stop and libjpeg greys the rest out, so [`Input`] notes whether it asked for
/// bytes past the end, and such a picture is refused too. Damaged entropy-coded data that libjpeg
/// can resynchronise after is only a warning to it, and the picture is decoded as browsers and
/// Pillow show it.
fn decode_jpeg(bytes: &[u8], scale: u8) -> Result<DynamicImage> {
    // libjpeg decodes every block of a scan's components once per scan, and takes a repeated or
    // out-of-order scan as a mere warning: a 10 MB upload of tiny refinement scans would hold a
    // core for minutes. `FF DA` cannot occur inside entropy-coded data (an `FF` there is followed
    // by `00` or a restart marker), so this counts the scans. Here, not with the header: it reads
    // the whole upload, and the header is also read on the async executor (`check`).
    let scans = bytes
        .windows(2)
        .filter(|pair| *pair == [0xFF, 0xDA])
        .count();
    if scans > MAX_JPEG_SCANS {
        return Err(unsupported(format!("{scans} scans")));
    }
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<_> {
        let mut decompress = mozjpeg::Decompress::builder().from_reader(Input {
            rest: bytes,
            ran_out: false,
        })?;
        decompress.scale(scale);
        // YCCK is Adobe's CMYK with its colours stored as YCbCr: libjpeg turns it into CMYK.
        let out = match decompress.color_space() {
            ColorSpace::JCS_GRAYSCALE => ColorSpace::JCS_GRAYSCALE,
            ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => ColorSpace::JCS_RGB,
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => ColorSpace::JCS_CMYK,
            other => {
                return Err(std::io::Error::other(format!(
                    "unsupported colour space {other:?}"
                )));
            }
        };
        let mut started = decompress.to_colorspace(out)?;
        let (width, height) = (started.width(), started.height());
        let pixels: Vec<u8> = started.read_scanlines()?;
        let input = started.finish_into_inner()?;
        Ok((pixels, width, height, out, input.ran_out))
    });
    let (pixels, width, height, out, ran_out) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(e)) => return Err(unsupported(e)),
        Err(panic) => return Err(unsupported(panic_message(&*panic))),
    };
    if ran_out {
        return Err(unsupported("the JPEG data ends early"));
    }
    let side = |side: usize| u32::try_from(side).map_err(unsupported);
    let (width, height) = (side(width)?, side(height)?);
    let image = match out {
        ColorSpace::JCS_GRAYSCALE => {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        ColorSpace::JCS_CMYK => {
            RgbImage::from_raw(width, height, cmyk_to_rgb(&pixels)).map(DynamicImage::ImageRgb8)
        }
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    };
    image.ok_or(DomainError::UnsupportedMediaType)
}

/// The upload as libjpeg reads it, noting whether it asked for more than there is: libjpeg reads
/// a whole picture up to its end marker and no further.
struct Input<'a> {
    rest: &'a [u8],
    ran_out: bool,
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.rest.read(buf)
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.ran_out |= self.rest.is_empty();
        Ok(self.rest)
    }

    fn consume(&mut self, amount: usize) {
        self.rest = self.rest.get(amount..).unwrap_or_default();
    }
}

/// What a caught panic says: libjpeg's message for its errors (a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message")
}

/// CMYK as Adobe's applications store it and libjpeg gives it back (inverted: 255 = no ink), to
/// RGB, the naive way (no ICC profile).
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for pixel in cmyk.chunks_exact(4) {
        let white = u16::from(pixel[3]);
        for &ink in &pixel[..3] {
            let channel = u16::from(ink) * white / 255;
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
#[allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_without_ink_is_white_and_full_black_is_black() {
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255]), [0, 255, 255]);
    }

    #[test]
    fn jpeg_scale_is_the_least_that_covers_the_target() {
        let header = Header {
            format: Format::Jpeg {
                components: 3,
                coefficient_bytes: 0,
                whole_image: false,
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

    /// libjpeg's pixels against jpeg-decoder's, which decoded uploads before it, in every colour
    /// space: the same colours, within the rounding of their IDCTs and upsampling. At reduced
    /// scales they differ more, libjpeg's being the closer to a full decode averaged down
    /// (`tests/quality.rs` holds the renditions made from them to a full decode).
    #[test]
    fn libjpeg_decodes_as_jpeg_decoder_did() {
        use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
        let (width, height) = (96, 64);
        let rgb = being_social_test_support::pictures::photo(width, height);
        let grey: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
        let cmyk: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 200])
            .collect();
        let cases = [
            ("grey", &grey, ColorType::Luma, SamplingFactor::F_1_1, false),
            ("4:2:0", &rgb, ColorType::Rgb, SamplingFactor::F_2_2, false),
            (
                "4:4:4 progressive",
                &rgb,
                ColorType::Rgb,
                SamplingFactor::F_1_1,
                true,
            ),
            ("CMYK", &cmyk, ColorType::Cmyk, SamplingFactor::F_1_1, false),
            (
                "YCCK",
                &cmyk,
                ColorType::CmykAsYcck,
                SamplingFactor::F_1_1,
                false,
            ),
        ];
        for (name, pixels, color, sampling, progressive) in cases {
            let mut bytes = Vec::new();
            let mut encoder = Encoder::new(&mut bytes, 95);
            encoder.set_sampling_factor(sampling);
            encoder.set_progressive(progressive);
            encoder.encode(pixels, 96, 64, color).unwrap();
            let header = Header::read(&bytes, |_, _| Ok(())).unwrap();
            let ours = header.decode(&bytes, (width, height)).unwrap();
            let mut decoder = jpeg_decoder(&bytes);
            let theirs = decoder.decode().unwrap();
            let theirs = match decoder.info().unwrap().pixel_format {
                // jpeg-decoder's CMYK: 0 = no ink.
                jpeg_decoder::PixelFormat::CMYK32 => theirs
                    .chunks_exact(4)
                    .flat_map(|p| {
                        let white = 255 - u16::from(p[3]);
                        [0, 1, 2].map(|c| ((255 - u16::from(p[c])) * white / 255) as u8)
                    })
                    .collect(),
                _ => theirs,
            };
            let ours = ours.as_bytes();
            assert_eq!(ours.len(), theirs.len(), "{name}");
            let diffs: Vec<u8> = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
            let max = diffs.iter().copied().max().unwrap();
            assert!(
                mean < 0.5 && max <= 3,
                "{name}: mean difference {mean:.2}, largest {max}"
            );
        }
    }

    #[test]
    fn coefficients_follow_the_sampling() {
        // SOI, then a SOF2 of 16×16 with three components: Y at 2×2, Cb and Cr at 1×1 (4:2:0).
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x11, 8, 0, 16, 0, 16, 3]);
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        let sof = jpeg.len();
        // A first scan of the luma alone.
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0]);
        // One MCU: four Y blocks and one of each chroma, 64 coefficients of 2 bytes.
        assert_eq!(
            layout(&jpeg),
            Some(Layout {
                width: 16,
                height: 16,
                components: 3,
                coefficient_bytes: 6 * 64 * 2,
                first_scan_components: 1,
            })
        );
        assert_eq!(layout(&jpeg[..12]), None);
        assert_eq!(layout(&jpeg[..sof]), None);
    }

    #[test]
    fn a_jpeg_of_more_than_a_hundred_scans_is_refused() {
        // A progressive JPEG, its last scan repeated (libjpeg only warns of a repeated scan).
        let mut jpeg = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
        encoder.set_progressive(true);
        let grey = vec![128u8; 16 * 16];
        encoder
            .encode(&grey, 16, 16, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let last_scan = jpeg
            .windows(2)
            .rposition(|pair| pair == [0xFF, 0xDA])
            .unwrap();
        let scan = &jpeg[last_scan..jpeg.len() - 2];
        let scans = jpeg.windows(2).filter(|pair| *pair == [0xFF, 0xDA]).count();
        let with_scans = |total: usize| {
            let mut bytes = jpeg[..jpeg.len() - 2].to_vec();
            for _ in scans..total {
                bytes.extend_from_slice(scan);
            }
            bytes.extend_from_slice(&[0xFF, 0xD9]);
            bytes
        };
        let decode = |bytes: &[u8]| Header::read(bytes, |_, _| Ok(()))?.decode(bytes, (16, 16));
        assert!(decode(&with_scans(MAX_JPEG_SCANS)).is_ok());
        assert!(matches!(
            decode(&with_scans(MAX_JPEG_SCANS + 1)),
            Err(DomainError::UnsupportedMediaType)
        ));
    }

    #[test]
    fn a_frame_header_hidden_behind_stray_bytes_is_refused() {
        // A stuffed `FF 00` where a marker belongs, its next two bytes read as a length, would
        // land inside the comment after it, on a forged tiny frame header; libjpeg skips the pair
        // and the comment, and decodes the real frame after them.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0x00, 0x00, 0x06, 0xFF, 0xFE, 0x00, 0x0C];
        jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x08, 8, 0, 8, 0, 8, 0]);
        jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x0B, 8, 0x10, 0, 0x10, 0, 1, 1, 0x11, 0]);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0]);
        assert_eq!(layout(&jpeg), None);
        // Stray bytes, a restart marker, or the end before the first scan: refused as well.
        for stray in [&[0x00][..], &[0xFF, 0xD0], &[0xFF, 0xD9]] {
            let mut jpeg = vec![0xFF, 0xD8];
            jpeg.extend_from_slice(stray);
            jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
            jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0]);
            assert_eq!(layout(&jpeg), None, "{stray:?}");
        }
    }
}
