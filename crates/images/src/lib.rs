//! Decoding, orienting, resizing and re-encoding pictures.
//!
//! Uploads are untrusted: the format is read from the bytes (never from a file name or a
//! client's content type), and the header is checked (pixel count, long edge, aspect ratio)
//! before anything is decoded. Each job then reserves the memory it will need at most from one
//! process-wide [`ImageBudget`] and waits for it if other jobs hold it, so that however many
//! uploads arrive at once the process never holds more picture memory than the budget (see
//! docs/security.md). JPEGs are decoded at the smallest DCT scale that still covers the largest
//! rendition; resizing is done in 8 bits with SIMD (`fast_image_resize`), never through a float
//! copy of the picture; orientation is applied to the (small) display image.
//!
//! The output is re-encoded from pixels alone, so no metadata of the upload (EXIF with GPS
//! position, XMP, comments, ICC profiles) survives; the EXIF orientation is applied to the pixels
//! first, since it would otherwise be lost with the rest and phone photos would come out sideways.
//!
//! All of it is CPU work and runs on tokio's blocking pool.

mod budget;
mod decode;
#[cfg(test)]
mod timings;

use async_trait::async_trait;
use being_social_domain::model::{
    EncodedImage, ImageFormat, ImagePurpose, Placeholder, ProcessedImage,
};
use being_social_domain::ports::ImageProcessor;
use being_social_domain::{DomainError, Result};
use fast_image_resize as fir;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::{ColorType, DynamicImage};
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

pub use budget::{ImageBudget, MAX_WAITING_JOBS, Reservation};
use decode::Header;

/// The least that keeps every rendition of a grainy photo at SSIM 0.98 or more against a full
/// decode and a Lanczos3 resize (`tests/quality.rs`: 85 gave 0.979 for the display image).
const JPEG_QUALITY: u8 = 88;
/// Chroma at half the resolution each way (4:2:0), as phones, cameras, libjpeg and Pillow write
/// photos: the eye sees colour at a coarser scale than brightness. `jpeg-encoder` (AVX2) at
/// 4:4:4 takes half the time of `image`'s encoder (4:4:4 only), at 4:2:0 a quarter, for a file
/// 15 to 30 % smaller at the same luma SSIM (`timings.rs`, `timings_of_jpeg_encoders`, in one
/// run: the display image of the generated photo took 103 ms and 596 kB with `image`, 46 ms and
/// 608 kB at 4:4:4, 26 ms and 414 kB at 4:2:0, SSIM 0.9865, 0.9862, 0.9859; the medium one of
/// the benchmark's photo 36 ms and 278 kB, 17 ms and 282 kB, 10.5 ms and 240 kB). Its optimised
/// Huffman tables are not used: the files they made decoded wrong with `image`'s decoder.
const JPEG_SAMPLING: jpeg_encoder::SamplingFactor = jpeg_encoder::SamplingFactor::F_2_2;

/// What the processor accepts and produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted width × height, checked from the header before decoding.
    pub max_pixels: u64,
    /// Longest accepted edge, in pixels.
    pub max_edge: u32,
    /// Most times the long edge may be the short one (a 40,000,000 × 1 strip is not a photo).
    pub max_aspect_ratio: u32,
    /// Longest edge of the display image of a post; smaller pictures are not enlarged.
    pub max_display_edge: u32,
    /// Longest edge of a post's medium rendition, made only when the display image is larger.
    pub max_medium_edge: u32,
    /// Longest edge of a thumbnail.
    pub max_thumbnail_edge: u32,
    /// Edge of the square avatar; smaller pictures are not enlarged.
    pub avatar_edge: u32,
}

impl ImageLimits {
    pub const DEFAULT_MAX_EDGE: u32 = 32_768;
    /// Wide enough for any panorama and for banners (2048 × 10 is accepted), narrow enough that no
    /// rendition is a line of pixels.
    pub const DEFAULT_MAX_ASPECT_RATIO: u32 = 256;
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_edge: Self::DEFAULT_MAX_EDGE,
            max_aspect_ratio: Self::DEFAULT_MAX_ASPECT_RATIO,
            max_display_edge: 2048,
            max_medium_edge: 1080,
            max_thumbnail_edge: 320,
            avatar_edge: 512,
        }
    }
}

/// [`ImageProcessor`] on Rust decoders and encoders, libjpeg-turbo for JPEGs and libwebp for WebP,
/// under a memory budget.
#[derive(Debug, Clone, Default)]
pub struct RustImageProcessor {
    limits: ImageLimits,
    budget: ImageBudget,
    release: Option<fn()>,
}

impl RustImageProcessor {
    pub fn new(limits: ImageLimits, budget: ImageBudget) -> Self {
        Self {
            limits,
            budget,
            release: None,
        }
    }

    /// Calls `release` on each job's thread once its memory is freed, before its share of the
    /// budget is given back: the allocator's way to return that memory to the system now (an
    /// allocator that keeps a thread's freed memory for its next use would otherwise hold the
    /// peaks of every thread that has processed a picture).
    #[must_use]
    pub fn releasing_memory_with(mut self, release: fn()) -> Self {
        self.release = Some(release);
        self
    }

    pub fn limits(&self) -> &ImageLimits {
        &self.limits
    }

    pub fn budget(&self) -> &ImageBudget {
        &self.budget
    }

    /// The bytes that processing `bytes` for `purpose` reserves from the budget: an upper bound
    /// of what it allocates at once.
    ///
    /// # Errors
    /// As [`ImageProcessor::process`] for a picture refused from its header.
    pub fn cost(&self, bytes: &[u8], purpose: ImagePurpose) -> Result<u64> {
        Plan::new(bytes, purpose, &self.limits).map(|plan| plan.cost)
    }
}

impl RustImageProcessor {
    /// The plan of `bytes`, refused when it needs more than the whole budget.
    fn plan(&self, bytes: &[u8], purpose: ImagePurpose) -> Result<Plan> {
        let plan = Plan::new(bytes, purpose, &self.limits)?;
        if plan.cost > self.budget.bytes() {
            return Err(DomainError::BadRequest {
                code: "image_too_large",
                detail: format!(
                    "The picture needs about {} MiB of memory to process, more than this server \
                     gives one picture ({} MiB). Send a smaller picture.",
                    plan.cost.div_ceil(1 << 20),
                    self.budget.bytes() >> 20
                ),
            });
        }
        Ok(plan)
    }
}

#[async_trait]
impl ImageProcessor for RustImageProcessor {
    async fn process(&self, bytes: Vec<u8>, purpose: ImagePurpose) -> Result<ProcessedImage> {
        let this = self.clone();
        let (plan, bytes) = blocking(move || (this.plan(&bytes, purpose), bytes)).await?;
        let plan = plan?;
        let permit = self.budget.reserve(plan.cost).await?;
        // The permit moves into the blocking job: the memory stays reserved until the job ends,
        // even if the request is dropped while it runs.
        let release = self.release;
        blocking(move || {
            let processed = plan.render(&bytes);
            drop(bytes);
            if let Some(release) = release {
                release();
            }
            drop(permit);
            processed
        })
        .await?
    }

    fn check(&self, bytes: &[u8], purpose: ImagePurpose) -> Result<()> {
        self.plan(bytes, purpose).map(drop)
    }
}

async fn blocking<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| DomainError::internal(format!("image processing task failed: {e}")))
}

/// What one picture's processing does, decided from its header alone.
#[derive(Debug)]
struct Plan {
    header: Header,
    /// What the decoding is asked to cover, in the stored orientation.
    target: (u32, u32),
    /// The part of the decoded pixels the display image is made from (left, top, width, height).
    crop: (u32, u32, u32, u32),
    /// The display image's size, in the stored orientation.
    display: (u32, u32),
    /// The medium rendition's long edge, if the display image is larger (posts only).
    medium_edge: Option<u32>,
    /// The thumbnail's size, upright.
    thumbnail: (u32, u32),
    /// Whether each rendition gets a WebP beside it where that is smaller (posts only; the
    /// display image only if the medium one got one, see `WEBP_METHOD`).
    webp: bool,
    cost: u64,
}

impl Plan {
    fn new(bytes: &[u8], purpose: ImagePurpose, limits: &ImageLimits) -> Result<Self> {
        let header = Header::read(bytes, |width, height| check_size(width, height, limits))?;
        let (width, height) = (header.width, header.height);
        let short = width.min(height);
        let upright = |(w, h): (u32, u32)| {
            if swaps_sides(header.orientation) {
                (h, w)
            } else {
                (w, h)
            }
        };

        let (target, crop, display, medium_edge, thumbnail) = match purpose {
            ImagePurpose::Post => {
                let target = fit_within(width, height, limits.max_display_edge);
                let decoded = header.decoded_size(target);
                let display = fit_within(decoded.0, decoded.1, limits.max_display_edge);
                // From the original size, so the thumbnail's aspect ratio does not carry the
                // display image's rounding.
                let (w, h) = upright((width, height));
                let thumbnail = fit_within(w, h, limits.max_thumbnail_edge);
                let medium_edge = (display.0.max(display.1) > limits.max_medium_edge)
                    .then_some(limits.max_medium_edge);
                let crop = (0, 0, decoded.0, decoded.1);
                (target, crop, display, medium_edge, thumbnail)
            }
            ImagePurpose::Avatar => {
                // Decoded so that its centred square covers the avatar.
                let edge = short.min(limits.avatar_edge.max(1));
                let cover = |side: u32| {
                    let side = (u64::from(side) * u64::from(edge)).div_ceil(u64::from(short));
                    u32::try_from(side).unwrap_or(u32::MAX)
                };
                let target = (cover(width), cover(height));
                let decoded = header.decoded_size(target);
                let side = decoded.0.min(decoded.1);
                let crop = ((decoded.0 - side) / 2, (decoded.1 - side) / 2, side, side);
                let edge = side.min(limits.avatar_edge.max(1));
                let thumb = edge.min(limits.max_thumbnail_edge.max(1));
                (target, crop, (edge, edge), None, (thumb, thumb))
            }
        };

        let channels = u64::from(header.channels);
        let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        // The job holds at most the largest of three phases, because each ends by dropping what
        // the next does not need (see `render`).
        // 1. Decoding: the decoded pixels and the decoder's own working memory.
        let decoding = header.decoding_bytes(target);
        // 2. Resizing to the display size: the decoded pixels, the resize's intermediate image
        //    (one pass done, the other not yet) and the display image.
        let decoded = area(header.decoded_size(target)) * channels;
        let intermediate = area((crop.2, display.1)).max(area((display.0, crop.3))) * channels;
        let resizing = decoded + intermediate + area(display) * channels;
        // 3. The renditions, once the decoded pixels are gone: the display image, its turned
        //    copy, its sRGB conversion (only with an ICC profile) and its encoding (in a buffer
        //    that doubles as it grows); the same for the thumbnail, plus the copy it is resized
        //    from; the medium rendition likewise, with the copy of the display image it is
        //    resized from; and an encoding to WebP: an RGB copy of a grey picture, libwebp's YUV
        //    copy (1.5 bytes a pixel) and its output, the display image's the most.
        let copies = if header.icc.is_some() { 5 } else { 4 };
        let webp = purpose == ImagePurpose::Post;
        let medium = medium_edge.map_or(0, |edge| {
            area(display) * channels + area(fit_within(display.0, display.1, edge)) * 4 * channels
        });
        let webp_bytes = if webp { area(display) * 5 } else { 0 };
        let rendering =
            (area(display) * copies + area(thumbnail) * 4) * channels + medium + webp_bytes;
        let cost = decoding.max(resizing).max(rendering) + (4 << 20);
        Ok(Self {
            header,
            target,
            crop,
            display,
            medium_edge,
            thumbnail,
            webp,
            cost,
        })
    }

    fn render(&self, bytes: &[u8]) -> Result<ProcessedImage> {
        let decoded = self.header.decode(bytes, self.target)?;
        // Consumes the decoded pixels: the renditions below are made without them (the phases
        // of `Plan::new`'s cost).
        let mut display = resize(decoded, self.crop, self.display)?;
        display.apply_orientation(self.header.orientation);
        if let Some(icc) = &self.header.icc {
            to_srgb(&mut display, icc);
        }
        let whole = |image: &DynamicImage| (0, 0, image.width(), image.height());
        // Each rendition from the next larger one: the medium from the display image, the
        // thumbnail from the medium one when there is one.
        let medium = match self.medium_edge {
            Some(edge) => {
                let size = fit_within(display.width(), display.height(), edge);
                Some(resize(display.clone(), whole(&display), size)?)
            }
            None => None,
        };
        let source = medium.as_ref().unwrap_or(&display);
        let thumbnail = resize(source.clone(), whole(source), self.thumbnail)?;
        // The medium rendition first: the display image gets a WebP only if the medium one's
        // was smaller than its JPEG (see `WEBP_METHOD`).
        let medium = medium
            .as_ref()
            .map(|medium| encode(medium, self.webp))
            .transpose()?;
        let display_webp = self.webp && medium.as_ref().is_none_or(|medium| medium.webp.is_some());
        Ok(ProcessedImage {
            placeholder: placeholder(&thumbnail)?,
            display: encode(&display, display_webp)?,
            medium,
            thumbnail: encode(&thumbnail, self.webp)?,
        })
    }
}

/// Whether a picture of this size may be processed at all: it is not empty, and within the pixel,
/// edge and aspect-ratio limits.
///
/// # Errors
/// `UnsupportedMediaType` for an empty picture, `BadRequest` (`image_too_large`,
/// `image_bad_shape`) for one over a limit.
fn check_size(width: u32, height: u32, limits: &ImageLimits) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(DomainError::UnsupportedMediaType);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(too_large(limits));
    }
    let (long, short) = (width.max(height), width.min(height));
    if long > limits.max_edge
        || u64::from(long) > u64::from(short) * u64::from(limits.max_aspect_ratio.max(1))
    {
        return Err(DomainError::BadRequest {
            code: "image_bad_shape",
            detail: format!(
                "The picture is {width} × {height} pixels: its long edge may be at most {} \
                 pixels and at most {} times its short edge.",
                limits.max_edge, limits.max_aspect_ratio
            ),
        });
    }
    Ok(())
}

fn too_large(limits: &ImageLimits) -> DomainError {
    #[allow(clippy::cast_precision_loss)] // a pixel count far below 2^52
    let megapixels = limits.max_pixels as f64 / 1_000_000.0;
    DomainError::BadRequest {
        code: "image_too_large",
        detail: format!("The picture has more than {megapixels} megapixels."),
    }
}

fn swaps_sides(orientation: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation as O;
    matches!(
        orientation,
        O::Rotate90 | O::Rotate270 | O::Rotate90FlipH | O::Rotate270FlipH
    )
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

/// The `crop` (left, top, width, height) of an 8-bit `source` resized to `size`, in 8 bits
/// throughout. Alpha is premultiplied in place (no copy of the source) so that transparent
/// pixels do not bleed their colour into their neighbours.
fn resize(
    mut source: DynamicImage,
    crop: (u32, u32, u32, u32),
    size: (u32, u32),
) -> Result<DynamicImage> {
    if crop == (0, 0, source.width(), source.height()) && size == (source.width(), source.height())
    {
        return Ok(source);
    }
    let failed = |e: &dyn std::fmt::Display| DomainError::internal(format!("resize failed: {e}"));
    let alpha = source.color().has_alpha();
    let mul_div = fir::MulDiv::default();
    if alpha {
        mul_div
            .multiply_alpha_inplace(&mut source)
            .map_err(|e| failed(&e))?;
    }
    let mut resized = DynamicImage::new(size.0, size.1, source.color());
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::CatmullRom))
        .crop(
            f64::from(crop.0),
            f64::from(crop.1),
            f64::from(crop.2),
            f64::from(crop.3),
        )
        .use_alpha(false);
    fir::Resizer::new()
        .resize(&source, &mut resized, &options)
        .map_err(|e| failed(&e))?;
    drop(source);
    if alpha {
        mul_div
            .divide_alpha_inplace(&mut resized)
            .map_err(|e| failed(&e))?;
    }
    Ok(resized)
}

/// Converts an RGB picture described by the ICC profile `icc` to sRGB, what every browser assumes
/// of a picture without one: a Display P3 photo stored without its profile would otherwise show
/// washed out, an Adobe RGB one dull. Done on the display image, after the resize (its pixels,
/// not the source's); the thumbnail is made from it. A profile that cannot be read or used is
/// ignored, as browsers do: the pixels stay as they are.
fn to_srgb(image: &mut DynamicImage, icc: &[u8]) {
    let mut convert = || -> std::result::Result<(), String> {
        let source = ColorProfile::new_from_slice(icc).map_err(|e| e.to_string())?;
        if source.color_space != DataColorSpace::Rgb {
            return Ok(());
        }
        let (layout, pixels) = match image {
            DynamicImage::ImageRgb8(rgb) => (Layout::Rgb, rgb.as_mut()),
            DynamicImage::ImageRgba8(rgba) => (Layout::Rgba, rgba.as_mut()),
            _ => return Ok(()),
        };
        let transform = source
            .create_transform_8bit(
                layout,
                &ColorProfile::new_srgb(),
                layout,
                TransformOptions::default(),
            )
            .map_err(|e| e.to_string())?;
        let mut converted = vec![0u8; pixels.len()];
        transform
            .transform(pixels, &mut converted)
            .map_err(|e| e.to_string())?;
        pixels.copy_from_slice(&converted);
        Ok(())
    };
    if let Err(error) = convert() {
        tracing::debug!(%error, "ICC profile ignored");
    }
}

/// The longest edge of the copy a placeholder is computed from: a BlurHash keeps a handful of
/// cosine components, which a 32-pixel picture carries as well as the thumbnail does, for a
/// hundredth of the work.
const PLACEHOLDER_EDGE: u32 = 32;

/// The picture's BlurHash (4 × 3 components, 3 × 4 for a portrait one) and its average colour,
/// from a small copy of the thumbnail. Transparent pixels count for their opacity.
fn placeholder(thumbnail: &DynamicImage) -> Result<Placeholder> {
    let small = thumbnail
        .thumbnail(PLACEHOLDER_EDGE, PLACEHOLDER_EDGE)
        .into_rgba8();
    let (width, height) = small.dimensions();
    let components = if height > width { (3, 4) } else { (4, 3) };
    let blurhash = blurhash::encode(components.0, components.1, width, height, small.as_raw())
        .map_err(|e| DomainError::internal(format!("blurhash failed: {e}")))?;
    // The mean is taken in linear light, as the eye mixes colours, then encoded back to sRGB.
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let srgb = |l: f64| {
        let c = if l <= 0.003_130_8 {
            l * 12.92
        } else {
            1.055 * l.powf(1.0 / 2.4) - 0.055
        };
        (c * 255.0).round().clamp(0.0, 255.0) as u8
    };
    let (mut sum, mut weight) = ([0.0f64; 3], 0.0f64);
    for pixel in small.pixels() {
        let alpha = f64::from(pixel[3]) / 255.0;
        for (total, &channel) in sum.iter_mut().zip(&pixel.0[..3]) {
            *total += linear(channel) * alpha;
        }
        weight += alpha;
    }
    let [r, g, b] = sum.map(|total| srgb(if weight > 0.0 { total / weight } else { 0.0 }));
    Ok(Placeholder {
        blurhash,
        dominant_color: format!("#{r:02x}{g:02x}{b:02x}"),
    })
}

/// The quality of WebP renditions. libwebp smooths a photo's grain away below this (90 gave the
/// display image an SSIM of 0.979 in `tests/quality.rs`, 80 0.975).
const WEBP_QUALITY: f32 = 95.0;
/// libwebp's effort, 0 (fastest) to 6; 4 is its default. Method 0 costs a third of method 4 for
/// files 5 to 10 % larger at an SSIM 0.003 lower (`timings.rs`, `timings_of_webp_settings`: the
/// display image of the generated photo took 223 ms and 332 kB at method 4, 105 ms and 351 kB
/// at 2, 73 ms and 368 kB at 0, SSIM 0.9866, 0.9839, 0.9841; 1 segment instead of 4, 1 pass, 3
/// partitions, no loop filter or `sns_strength` 0 saved little or nothing and cost bytes;
/// `thread_level` only spreads the same work over a second thread).
///
/// Beside 4:2:0 JPEGs a WebP is not always smaller: it was 11 % smaller for the generated photo's
/// display image (368 against 414 kB), 10 % for its medium one (123 against 136 kB), and larger
/// for its thumbnail (29 against 24 kB); for the benchmark's grainy photo it was larger at
/// every size and every method (display 1,013 kB against 697, medium 331 against 240, thumbnail
/// 29 against 21), so the 120 to 145 ms its display image took were thrown away. The display
/// image, which costs most, is therefore encoded to WebP only when the medium rendition's WebP
/// was smaller than its JPEG (the ratio follows the picture's content: grain or smooth areas).
const WEBP_METHOD: i32 = 0;

/// The picture as lossy WebP (with its alpha channel, if it has one, kept losslessly), or `None`
/// when libwebp refuses it. Pixels only: no metadata is written.
fn encode_webp(image: &DynamicImage) -> Option<Vec<u8>> {
    let rgb;
    let rgba;
    let encoder = match image {
        DynamicImage::ImageRgb8(pixels) => {
            webp::Encoder::from_rgb(pixels.as_raw(), pixels.width(), pixels.height())
        }
        DynamicImage::ImageRgba8(pixels) => {
            webp::Encoder::from_rgba(pixels.as_raw(), pixels.width(), pixels.height())
        }
        other if other.color().has_alpha() => {
            rgba = other.to_rgba8();
            webp::Encoder::from_rgba(rgba.as_raw(), rgba.width(), rgba.height())
        }
        other => {
            rgb = other.to_rgb8();
            webp::Encoder::from_rgb(rgb.as_raw(), rgb.width(), rgb.height())
        }
    };
    let mut config = webp::WebPConfig::new().ok()?;
    config.quality = WEBP_QUALITY;
    config.method = WEBP_METHOD;
    match encoder.encode_advanced(&config) {
        Ok(memory) => Some(memory.to_vec()),
        Err(error) => {
            tracing::debug!(?error, "WebP encoding failed");
            None
        }
    }
}

/// The rendition in its stored format, with `with_webp` its WebP where that is smaller.
fn encode(image: &DynamicImage, with_webp: bool) -> Result<EncodedImage> {
    let mut encoded = encode_plain(image)?;
    if with_webp {
        encoded.webp = encode_webp(image).filter(|webp| webp.len() < encoded.bytes.len());
    }
    Ok(encoded)
}

/// PNG when the picture has an alpha channel (JPEG cannot hold transparency), JPEG otherwise.
/// The encoders are given pixels only: no EXIF, ICC profile or other metadata is written.
fn encode_plain(image: &DynamicImage) -> Result<EncodedImage> {
    let failed =
        |e: &dyn std::fmt::Display| DomainError::internal(format!("image encoding failed: {e}"));
    let mut bytes = Vec::new();
    let format = if image.color().has_alpha() {
        image
            .write_with_encoder(PngEncoder::new_with_quality(
                &mut bytes,
                CompressionType::Default,
                PngFilter::Adaptive,
            ))
            .map_err(|e| failed(&e))?;
        ImageFormat::Png
    } else {
        let converted;
        let (pixels, color) = match image {
            DynamicImage::ImageLuma8(grey) => (grey.as_raw(), jpeg_encoder::ColorType::Luma),
            DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), jpeg_encoder::ColorType::Rgb),
            other => {
                converted = other.to_rgb8();
                (converted.as_raw(), jpeg_encoder::ColorType::Rgb)
            }
        };
        let side = |side: u32| u16::try_from(side).map_err(|e| failed(&e));
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, JPEG_QUALITY);
        encoder.set_sampling_factor(JPEG_SAMPLING);
        encoder
            .encode(pixels, side(image.width())?, side(image.height())?, color)
            .map_err(|e| failed(&e))?;
        ImageFormat::Jpeg
    };
    debug_assert!(matches!(
        image.color(),
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8
    ));
    Ok(EncodedImage {
        bytes,
        format,
        width: image.width(),
        height: image.height(),
        webp: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Cursor;

    use being_social_test_support::pictures::{jpeg_with_exif, png_claiming};
    use image::{GenericImageView, Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;

    /// PNG colour types of [`png_claiming`].
    const GREY: u8 = 0;
    const RGB: u8 = 2;

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

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 64])
        });
        encode_as(&DynamicImage::ImageRgb8(image), image::ImageFormat::Png)
    }

    fn decoded(encoded: &EncodedImage) -> DynamicImage {
        let format = match encoded.format {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::WebP => image::ImageFormat::WebP,
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

    /// CIE 1976 L*a*b* of an sRGB colour (D65).
    fn lab(rgb: [u8; 3]) -> [f64; 3] {
        let linear = rgb.map(|c| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        });
        let [r, g, b] = linear;
        let xyz = [
            (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.950_47,
            0.2126 * r + 0.7152 * g + 0.0722 * b,
            (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.088_83,
        ];
        let f = xyz.map(|t| {
            if t > 0.008_856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        });
        [
            116.0 * f[1] - 16.0,
            500.0 * (f[0] - f[1]),
            200.0 * (f[1] - f[2]),
        ]
    }

    fn delta_e(a: [u8; 3], b: [u8; 3]) -> f64 {
        let (a, b) = (lab(a), lab(b));
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    #[tokio::test]
    async fn display_p3_pictures_are_stored_in_srgb() {
        // Four patches of Display P3 colours in a JPEG that carries the P3 profile, as phones
        // send them; stored, each patch must match moxcms's own P3 -> sRGB conversion of its
        // colour (Delta E under 2), not the unconverted numbers.
        let patches: [[u8; 3]; 4] = [[200, 100, 50], [60, 170, 90], [90, 90, 210], [230, 60, 160]];
        let pixels = RgbImage::from_fn(400, 100, |x, _| Rgb(patches[(x / 100) as usize]));
        let p3 = ColorProfile::new_display_p3();
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 95);
        encoder.add_icc_profile(&p3.encode().unwrap()).unwrap();
        encoder
            .encode(pixels.as_raw(), 400, 100, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let stored = decoded(&run(bytes, ImagePurpose::Post).await.unwrap().display).into_rgb8();

        let transform = p3
            .create_transform_8bit(
                Layout::Rgb,
                &ColorProfile::new_srgb(),
                Layout::Rgb,
                TransformOptions::default(),
            )
            .unwrap();
        let mut shifted = 0;
        for (i, patch) in patches.iter().enumerate() {
            let mut reference = [0u8; 3];
            transform.transform(patch, &mut reference).unwrap();
            let got = stored.get_pixel(i as u32 * 100 + 50, 50).0;
            let error = delta_e(got, reference);
            assert!(
                error < 2.0,
                "patch {i}: stored {got:?}, sRGB {reference:?}, Delta E {error:.2}"
            );
            if delta_e(*patch, reference) > 3.0 {
                shifted += 1;
            }
        }
        assert!(
            shifted >= 2,
            "the patches must differ between P3 and sRGB to prove anything"
        );

        // The same in a PNG with an iCCP chunk.
        let mut bytes = Vec::new();
        let mut encoder = PngEncoder::new(&mut bytes);
        image::ImageEncoder::set_icc_profile(&mut encoder, p3.encode().unwrap()).unwrap();
        image::ImageEncoder::write_image(
            encoder,
            pixels.as_raw(),
            400,
            100,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        let stored = decoded(&run(bytes, ImagePurpose::Post).await.unwrap().display).into_rgb8();
        for (i, patch) in patches.iter().enumerate() {
            let mut reference = [0u8; 3];
            transform.transform(patch, &mut reference).unwrap();
            let got = stored.get_pixel(i as u32 * 100 + 50, 50).0;
            assert!(
                delta_e(got, reference) < 2.0,
                "PNG patch {i}: {got:?}, sRGB {reference:?}"
            );
        }

        // Without the profile the same numbers are stored as they are.
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 95)
            .encode(pixels.as_raw(), 400, 100, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let plain = decoded(&run(bytes, ImagePurpose::Post).await.unwrap().display).into_rgb8();
        for (i, patch) in patches.iter().enumerate() {
            let got = plain.get_pixel(i as u32 * 100 + 50, 50).0;
            assert!(
                delta_e(got, *patch) < 2.0,
                "patch {i}: {got:?} for {patch:?}"
            );
        }
    }

    #[tokio::test]
    async fn every_picture_gets_a_placeholder_of_its_colours() {
        // Left half red, right half blue: the average is their mix in linear light (188 of 255
        // for each, in sRGB), and the BlurHash decodes to red on the left and blue on the right.
        let halves = RgbImage::from_fn(400, 200, |x, _| {
            if x < 200 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let bytes = encode_as(&DynamicImage::ImageRgb8(halves), image::ImageFormat::Png);
        let out = run(bytes, ImagePurpose::Post).await.unwrap();
        let placeholder = out.placeholder;
        let channel =
            |i: usize| u8::from_str_radix(&placeholder.dominant_color[1 + 2 * i..][..2], 16);
        let rgb = [
            channel(0).unwrap(),
            channel(1).unwrap(),
            channel(2).unwrap(),
        ];
        assert!(
            rgb[0].abs_diff(188) <= 2 && rgb[1] <= 2 && rgb[2].abs_diff(188) <= 2,
            "{rgb:?}"
        );
        assert!(placeholder.blurhash.starts_with('L'), "4 x 3 components");
        let pixels = blurhash::decode(&placeholder.blurhash, 40, 20, 1.0).unwrap();
        let at = |x: usize, y: usize| &pixels[(y * 40 + x) * 4..][..3];
        let (left, right) = (at(2, 10), at(37, 10));
        assert!(left[0] > 200 && left[0] > left[2] + 100, "{left:?}");
        assert!(right[2] > 200 && right[2] > right[0] + 100, "{right:?}");

        // A portrait picture gets 3 x 4 components; transparent pixels do not count.
        let mut portrait = RgbaImage::from_pixel(100, 300, Rgba([0, 255, 0, 255]));
        for y in 0..150 {
            for x in 0..100 {
                portrait.put_pixel(x, y, Rgba([255, 255, 255, 0]));
            }
        }
        let bytes = encode_as(&DynamicImage::ImageRgba8(portrait), image::ImageFormat::Png);
        let placeholder = run(bytes, ImagePurpose::Post).await.unwrap().placeholder;
        assert!(
            placeholder.blurhash.starts_with('T'),
            "{}",
            placeholder.blurhash
        );
        assert_eq!(placeholder.dominant_color, "#00ff00");
    }

    #[tokio::test]
    async fn large_jpeg_is_scaled_down() {
        let out = run(jpeg(3000, 1000), ImagePurpose::Post).await.unwrap();
        assert_eq!(out.display.format, ImageFormat::Jpeg);
        assert_eq!((out.display.width, out.display.height), (2048, 683));
        assert_eq!(out.thumbnail.format, ImageFormat::Jpeg);
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 107));
        let medium = out.medium.as_ref().unwrap();
        assert_eq!(medium.format, ImageFormat::Jpeg);
        assert_eq!((medium.width, medium.height), (1080, 360));
        for encoded in [&out.display, medium, &out.thumbnail] {
            decoded(encoded);
            // Each WebP, where there is one, is the same picture in fewer bytes.
            if let Some(webp) = &encoded.webp {
                assert!(webp.len() < encoded.bytes.len());
                let picture =
                    image::load_from_memory_with_format(webp, image::ImageFormat::WebP).unwrap();
                assert_eq!(picture.dimensions(), (encoded.width, encoded.height));
            }
        }
    }

    #[tokio::test]
    async fn small_pictures_are_not_enlarged() {
        let out = run(jpeg(200, 100), ImagePurpose::Post).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (200, 100));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (200, 100));
        // No medium rendition when the display image is no larger.
        assert_eq!(out.medium, None);
        let out = run(jpeg(1080, 500), ImagePurpose::Post).await.unwrap();
        assert_eq!(out.medium, None);
        let out = run(jpeg(1081, 500), ImagePurpose::Post).await.unwrap();
        let medium = out.medium.unwrap();
        assert_eq!((medium.width, medium.height), (1080, 500));
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
            // Its WebP keeps the transparency too.
            if let Some(webp) = &encoded.webp {
                let image =
                    image::load_from_memory_with_format(webp, image::ImageFormat::WebP).unwrap();
                assert_eq!(image.get_pixel(0, 0).0[3], 0);
                assert_eq!(image.get_pixel(encoded.width - 1, 0).0[3], 255);
            }
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
        // Avatars get neither a medium rendition nor WebP.
        assert_eq!(out.medium, None);
        assert_eq!((&out.display.webp, &out.thumbnail.webp), (&None, &None));

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

    /// JPEGs cut short anywhere, or with broken headers, are refused as before libjpeg decoded
    /// them (libjpeg itself would grey out what is missing).
    #[tokio::test]
    async fn truncated_and_broken_jpegs_are_unsupported() {
        for progressive in [false, true] {
            let pixels = being_social_test_support::pictures::photo(400, 300);
            let mut whole = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut whole, 90);
            encoder.set_progressive(progressive);
            encoder
                .encode(&pixels, 400, 300, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            let at = |marker: u8| whole.windows(2).position(|w| w == [0xFF, marker]).unwrap();
            let (sos, dht, dqt, n) = (at(0xDA), at(0xC4), at(0xDB), whole.len());
            let mut broken: Vec<Vec<u8>> = [sos + 40, n / 2, n * 3 / 4, n - 100, n - 2, n - 1]
                .map(|len| whole[..len].to_vec())
                .into();
            // A Huffman table that counts more codes than it holds, a quantisation table
            // shorter than its values, a scan of a component the frame does not have.
            for (at, byte) in [(dht + 6, 0xFF), (dqt + 3, 0x02), (sos + 5, 9)] {
                let mut bytes = whole.clone();
                bytes[at] = byte;
                broken.push(bytes);
            }
            for bytes in broken {
                let result = run(bytes, ImagePurpose::Post).await;
                assert!(
                    matches!(result, Err(DomainError::UnsupportedMediaType)),
                    "progressive {progressive}: {result:?}"
                );
            }
            // Whole, and with bytes after its end, it is a picture.
            whole.extend_from_slice(b"trailing bytes");
            assert!(run(whole, ImagePurpose::Post).await.is_ok());
        }
    }

    /// A few dozen bytes whose header claims a 50000×50000 picture: a decompression bomb's shape.
    #[tokio::test]
    async fn huge_header_is_too_large() {
        assert_too_large(run(png_claiming(50_000, 50_000, RGB), ImagePurpose::Post).await);
    }

    #[tokio::test]
    async fn pixel_limit_is_checked() {
        let processor = RustImageProcessor::new(
            ImageLimits {
                max_pixels: 10_000,
                ..ImageLimits::default()
            },
            ImageBudget::default(),
        );
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
        let mut tiff = b"II*\0".to_vec(); // little-endian TIFF
        tiff.extend_from_slice(&8u32.to_le_bytes()); // first IFD right after the header
        tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes()); // one value
        tiff.extend_from_slice(&[6, 0, 0, 0]); // 6, padded to four bytes
        tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        jpeg_with_exif(&plain, &tiff)
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

    fn assert_bad_shape(result: Result<ProcessedImage>) {
        match result {
            Err(DomainError::BadRequest { code, detail }) => {
                assert_eq!(code, "image_bad_shape");
                assert!(detail.contains("long edge"), "{detail}");
            }
            other => panic!("expected image_bad_shape, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn strips_and_overlong_edges_are_refused_from_the_header() {
        // Within the pixel limit, but 40 million pixels long.
        assert_bad_shape(run(png_claiming(40_000_000, 1, GREY), ImagePurpose::Post).await);
        assert_bad_shape(run(png_claiming(1, 40_000_000, GREY), ImagePurpose::Avatar).await);
        // Longer than the edge limit, whatever the ratio.
        assert_bad_shape(run(png_claiming(32_769, 1_100, GREY), ImagePurpose::Post).await);
        // More than 256 times as long as wide.
        assert_bad_shape(run(png_claiming(30_000, 100, GREY), ImagePurpose::Post).await);
        // Exactly 256 times is a (thin) picture.
        let out = run(png(2_560, 10), ImagePurpose::Post).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (2048, 8));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 1));
    }

    #[tokio::test]
    async fn a_picture_that_needs_more_than_the_whole_budget_is_refused() {
        let processor = RustImageProcessor::new(
            ImageLimits::default(),
            ImageBudget::new(8 << 20, std::time::Duration::from_secs(1)),
        );
        let bytes = png(3000, 2000);
        assert!(processor.cost(&bytes, ImagePurpose::Post).unwrap() > 8 << 20);
        match processor.process(bytes, ImagePurpose::Post).await {
            Err(DomainError::BadRequest { code, detail }) => {
                assert_eq!(code, "image_too_large");
                assert!(detail.contains("MiB"), "{detail}");
            }
            other => panic!("expected image_too_large, got {other:?}"),
        }
        assert_eq!(processor.budget().available_bytes(), 8 << 20);
    }

    #[tokio::test]
    async fn jpegs_are_decoded_at_the_scale_their_renditions_need() {
        // Half of 4032 is 2016, within 2 % of 2048: the display image is 2016 wide.
        let out = run(jpeg(4032, 3024), ImagePurpose::Post).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (2016, 1512));
        let medium = out.medium.as_ref().unwrap();
        assert_eq!((medium.width, medium.height), (1080, 810));
        assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 240));
        // An avatar from a quarter of the pixels.
        let out = run(jpeg(4000, 3000), ImagePurpose::Avatar).await.unwrap();
        assert_eq!((out.display.width, out.display.height), (512, 512));
    }

    #[tokio::test]
    async fn sixteen_bit_and_grey_pictures_come_out_in_eight_bits() {
        let wide = image::ImageBuffer::<Rgba<u16>, _>::from_fn(300, 200, |x, _| {
            Rgba([if x < 150 { 65535 } else { 0 }, 0, 0, 65535])
        });
        let png16 = encode_as(&DynamicImage::ImageRgba16(wide), image::ImageFormat::Png);
        let out = run(png16, ImagePurpose::Post).await.unwrap();
        let image = decoded(&out.display).to_rgba8();
        assert_eq!(image.get_pixel(10, 10).0, [255, 0, 0, 255]);
        assert_eq!(image.get_pixel(290, 10).0, [0, 0, 0, 255]);

        let grey =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(64, 64, image::Luma([77])));
        let out = run(
            encode_as(&grey, image::ImageFormat::Jpeg),
            ImagePurpose::Post,
        )
        .await
        .unwrap();
        let pixel = decoded(&out.display).to_rgb8().get_pixel(32, 32).0;
        assert!(pixel.iter().all(|c| c.abs_diff(77) <= 2), "{pixel:?}");
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
