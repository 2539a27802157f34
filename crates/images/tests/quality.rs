//! The quality gate of the renditions: each one (2048, 1080 and 320 px, JPEG and WebP) is
//! compared by SSIM with what a full decode of the upload and a Lanczos3 resize make (at least
//! 0.98); every EXIF orientation (1 to 8) comes out upright; and no stored file carries any
//! metadata of the upload (EXIF with its GPS position, XMP, ICC profile, comments), checked from
//! each file's structure rather than by searching its bytes for a few letters.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]

use std::io::Cursor;

use being_social_domain::model::{EncodedImage, ImageFormat, ImagePurpose, ProcessedImage};
use being_social_domain::ports::ImageProcessor;
use being_social_images::RustImageProcessor;
use being_social_test_support::pictures::jpeg_with_exif;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, Rgb, RgbImage};

/// The least SSIM a rendition may have against the reference.
const MIN_SSIM: f64 = 0.98;

fn process(bytes: Vec<u8>) -> ProcessedImage {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(RustImageProcessor::default().process(bytes, ImagePurpose::Post))
        .unwrap()
}

/// A photo-like picture (`being_social_test_support::pictures::photo`).
fn photo(width: u32, height: u32) -> RgbImage {
    let pixels = being_social_test_support::pictures::photo(width, height);
    RgbImage::from_raw(width, height, pixels).unwrap()
}

fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .unwrap();
    out
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap()
}

/// Mean SSIM of the luma of two pictures of one size (`being_social_test_support::pictures`).
fn ssim(a: &GrayImage, b: &GrayImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (width, height) = a.dimensions();
    being_social_test_support::pictures::ssim(a.as_raw(), b.as_raw(), width, height)
}

/// Every rendition of `processed` and its WebP, with a name for the messages.
fn renditions(processed: &ProcessedImage) -> Vec<(String, &EncodedImage)> {
    let mut all = vec![("display".to_owned(), &processed.display)];
    if let Some(medium) = &processed.medium {
        all.push(("medium".to_owned(), medium));
    }
    all.push(("thumbnail".to_owned(), &processed.thumbnail));
    all
}

/// The stored bytes of a rendition: its JPEG or PNG, and its WebP if it has one.
fn files(encoded: &EncodedImage) -> Vec<(&'static str, &[u8])> {
    let main = match encoded.format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
    };
    let mut files = vec![(main, encoded.bytes.as_slice())];
    if let Some(webp) = &encoded.webp {
        files.push(("webp", webp.as_slice()));
    }
    files
}

fn assert_renditions_match_a_full_decode(source: &[u8], name: &str) {
    // The reference: every pixel decoded, turned upright, resized with Lanczos3.
    let full = decode(source);
    let processed = process(source.to_vec());
    let mut report = Vec::new();
    for (rendition, encoded) in renditions(&processed) {
        let reference = full
            .resize_exact(encoded.width, encoded.height, FilterType::Lanczos3)
            .to_luma8();
        for (format, bytes) in files(encoded) {
            let stored = decode(bytes);
            assert_eq!(
                (stored.width(), stored.height()),
                (encoded.width, encoded.height)
            );
            let score = ssim(&stored.to_luma8(), &reference);
            report.push((
                score,
                format!(
                    "{name} {rendition} {format} {}x{}: SSIM {score:.4}, {} bytes",
                    encoded.width,
                    encoded.height,
                    bytes.len()
                ),
            ));
        }
    }
    let lines: Vec<&str> = report.iter().map(|(_, line)| line.as_str()).collect();
    println!("{}", lines.join("\n"));
    assert!(
        report.iter().all(|(score, _)| *score >= MIN_SSIM),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn a_12_megapixel_photo_decoded_at_half_scale() {
    let source = jpeg(&photo(4032, 3024), 92);
    assert_renditions_match_a_full_decode(&source, "4032x3024");
    let processed = process(source);
    let sizes: Vec<_> = renditions(&processed)
        .iter()
        .map(|(_, e)| (e.width, e.height))
        .collect();
    assert_eq!(sizes, [(2016, 1512), (1080, 810), (320, 240)]);
    assert!(
        processed.display.webp.is_some() && processed.medium.as_ref().unwrap().webp.is_some(),
        "a photo's WebP is smaller than its JPEG"
    );
}

#[test]
fn a_picture_decoded_in_full() {
    // 2400 px: half of it would not cover 2048, so every pixel is decoded.
    assert_renditions_match_a_full_decode(&jpeg(&photo(2400, 1600), 92), "2400x1600");
    // A portrait PNG.
    let mut png = Vec::new();
    DynamicImage::ImageRgb8(photo(1200, 1600))
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_renditions_match_a_full_decode(&png, "1200x1600 PNG");
}

/// A TIFF structure (EXIF) holding an orientation and a GPS position.
fn exif(orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes()); // IFD0 at 8
    tiff.extend_from_slice(&2u16.to_le_bytes()); // two entries
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation, SHORT, 1
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0x8825u16.to_le_bytes()); // GPS IFD pointer, LONG, 1
    tiff.extend_from_slice(&4u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&38u32.to_le_bytes()); // GPS IFD at 38
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one GPS entry
    tiff.extend_from_slice(&0x0001u16.to_le_bytes()); // GPSLatitudeRef, ASCII, 2: "N"
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&2u32.to_le_bytes());
    tiff.extend_from_slice(b"N\0\0\0");
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff
}

/// `jpeg` with an APP segment `marker` holding `payload`, right after its SOI.
fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Four quadrants of distinct colours, `width` × `height` as stored.
fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        match (x < width / 2, y < height / 2) {
            (true, true) => Rgb([230, 30, 30]),    // red, top left
            (false, true) => Rgb([30, 200, 30]),   // green, top right
            (true, false) => Rgb([30, 30, 230]),   // blue, bottom left
            (false, false) => Rgb([240, 240, 40]), // yellow, bottom right
        }
    })
}

#[test]
fn every_exif_orientation_comes_out_upright() {
    // 2400 × 1600 as stored: every rendition is made, and the 1/2 scale is not used.
    let stored = quadrants(2400, 1600);
    for n in 1..=8u8 {
        let source = jpeg_with_exif(&jpeg(&stored, 95), &exif(u16::from(n)));
        let mut upright = DynamicImage::ImageRgb8(stored.clone());
        upright.apply_orientation(Orientation::from_exif(n).unwrap());
        let upright = upright.to_rgb8();
        let processed = process(source);
        for (rendition, encoded) in renditions(&processed) {
            let (w, h) = (encoded.width, encoded.height);
            assert_eq!(
                (w > h),
                (upright.width() > upright.height()),
                "orientation {n}, {rendition}: {w}x{h}"
            );
            for (format, bytes) in files(encoded) {
                let got = decode(bytes).to_rgb8();
                for (fx, fy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                    let at = |image: &RgbImage| {
                        let x = (f64::from(image.width()) * fx) as u32;
                        let y = (f64::from(image.height()) * fy) as u32;
                        image.get_pixel(x, y).0
                    };
                    let (expected, actual) = (at(&upright), at(&got));
                    let close = expected
                        .iter()
                        .zip(actual)
                        .all(|(e, a)| e.abs_diff(a) <= 40);
                    assert!(
                        close,
                        "orientation {n}, {rendition} {format} at ({fx}, {fy}): \
                         {actual:?}, expected {expected:?}"
                    );
                }
            }
        }
    }
}

/// The segments of a JPEG before its scan data, as (marker, payload).
fn jpeg_segments(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
    let mut segments = Vec::new();
    let mut at = 2;
    loop {
        assert_eq!(bytes[at], 0xFF, "a marker at {at}");
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        segments.push((marker, &bytes[at + 4..at + 2 + length]));
        if marker == 0xDA {
            return segments;
        }
        at += 2 + length;
    }
}

/// The chunk types of a PNG.
fn png_chunks(bytes: &[u8]) -> Vec<[u8; 4]> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        chunks.push(bytes[at + 4..at + 8].try_into().unwrap());
        at += 12 + length;
    }
    chunks
}

/// The chunk types of a WebP (RIFF) file, and the flags of its VP8X chunk if it has one.
fn webp_chunks(bytes: &[u8]) -> (Vec<[u8; 4]>, Option<u8>) {
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    let (mut chunks, mut flags) = (Vec::new(), None);
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let kind: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let length = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if &kind == b"VP8X" {
            flags = Some(bytes[at + 8]);
        }
        chunks.push(kind);
        at += 8 + length + length % 2;
    }
    (chunks, flags)
}

fn assert_no_metadata(format: &str, bytes: &[u8], case: &str) {
    match format {
        "jpeg" => {
            for (marker, payload) in jpeg_segments(bytes) {
                // SOF, DHT, DQT, DRI, SOS, and the JFIF header (APP0): nothing else.
                let allowed = matches!(marker, 0xC0..=0xCF | 0xDB | 0xDD | 0xDA)
                    || (marker == 0xE0 && payload.starts_with(b"JFIF\0"));
                assert!(allowed, "{case}: JPEG segment {marker:#04x} kept");
            }
        }
        "png" => {
            for chunk in png_chunks(bytes) {
                assert!(
                    matches!(&chunk, b"IHDR" | b"PLTE" | b"tRNS" | b"IDAT" | b"IEND"),
                    "{case}: PNG chunk {} kept",
                    String::from_utf8_lossy(&chunk)
                );
            }
        }
        "webp" => {
            let (chunks, flags) = webp_chunks(bytes);
            for chunk in &chunks {
                assert!(
                    matches!(chunk, b"VP8 " | b"VP8L" | b"VP8X" | b"ALPH"),
                    "{case}: WebP chunk {} kept",
                    String::from_utf8_lossy(chunk)
                );
            }
            // VP8X flags: ICC 0x20, EXIF 0x08, XMP 0x04.
            assert_eq!(flags.unwrap_or(0) & 0x2C, 0, "{case}: WebP metadata flags");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn no_metadata_survives_in_any_stored_file() {
    let icc = moxcms::ColorProfile::new_srgb().encode().unwrap();
    let mut icc_payload = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc_payload.extend_from_slice(&icc);
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\
        <rdf:RDF><rdf:Description exif:GPSLatitude=\"48,51.2405N\"/></rdf:RDF></x:xmpmeta>";
    let plain = jpeg(&photo(2400, 1600), 90);
    let mut source = jpeg_with_exif(&plain, &exif(6));
    source = with_segment(&source, 0xE1, xmp);
    source = with_segment(&source, 0xE2, &icc_payload);
    source = with_segment(&source, 0xFE, b"a comment with a name in it");
    // The input has each of them.
    let markers: Vec<u8> = jpeg_segments(&source).iter().map(|s| s.0).collect();
    assert!(markers.contains(&0xE1) && markers.contains(&0xE2) && markers.contains(&0xFE));

    // A PNG with EXIF, text and an ICC profile, and transparency (it stays PNG).
    let rgba = DynamicImage::ImageRgb8(photo(1200, 900)).to_rgba8();
    let mut png = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
    image::ImageEncoder::set_icc_profile(&mut encoder, icc.clone()).unwrap();
    image::ImageEncoder::write_image(
        encoder,
        rgba.as_raw(),
        1200,
        900,
        image::ExtendedColorType::Rgba8,
    )
    .unwrap();
    let iend = png.len() - 12;
    let mut tail = Vec::new();
    being_social_test_support::pictures::png_chunk(&mut tail, b"eXIf", &exif(1));
    being_social_test_support::pictures::png_chunk(&mut tail, b"tEXt", b"Author\0Someone");
    png.splice(iend..iend, tail);
    assert!(png_chunks(&png).contains(b"eXIf") && png_chunks(&png).contains(b"iCCP"));

    for (case, bytes) in [("JPEG", source), ("PNG", png)] {
        let processed = process(bytes);
        let mut files_seen = 0;
        for (rendition, encoded) in renditions(&processed) {
            for (format, bytes) in files(encoded) {
                assert_no_metadata(format, bytes, &format!("{case} {rendition} {format}"));
                files_seen += 1;
            }
        }
        assert!(files_seen >= 3, "{case}");
    }
}
