//! Pictures an encoder will not make: a PNG whose header claims more than its data holds, the
//! chunks to pad a PNG to an exact size, a JPEG with EXIF metadata; and the SSIM the picture
//! quality tests measure with.

/// A PNG of a few dozen bytes whose header claims `width`×`height` pixels of 8 bits (`color`: the
/// PNG colour type, 0 grey or 2 RGB) and whose data is one empty row: a decompression bomb's
/// shape; the header is all that the checks read.
pub fn png_claiming(width: u32, height: u32, color: u8) -> Vec<u8> {
    let mut ihdr = [width.to_be_bytes(), height.to_be_bytes()].concat();
    ihdr.extend_from_slice(&[8, color, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr);
    let empty_row = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
    png_chunk(&mut png, b"IDAT", &empty_row);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// Appends a PNG chunk to `out`: the length of `data`, `kind`, `data` and their CRC.
pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let length = u32::try_from(data.len()).expect("a chunk under 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// `jpeg` with an EXIF segment (APP1) holding `tiff`, the EXIF data as a TIFF structure, right
/// after its start-of-image marker, where cameras write it.
pub fn jpeg_with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    assert_eq!(
        &jpeg[..2],
        &[0xFF, 0xD8],
        "a JPEG starts with its SOI marker"
    );
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    let length = u16::try_from(payload.len() + 2).expect("an APP1 segment under 64 KiB");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Mean SSIM of two 8-bit luma pictures of `width` × `height` (rows of `width` bytes), over
/// 8 × 8 windows every 4 pixels, with the usual constants for 8-bit data.
pub fn ssim(a: &[u8], b: &[u8], width: u32, height: u32) -> f64 {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.len() as u64, u64::from(width) * u64::from(height));
    const WINDOW: u32 = 8;
    let at = |pixels: &[u8], x: u32, y: u32| f64::from(pixels[(y * width + x) as usize]);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut total, mut windows) = (0.0, 0u32);
    for top in (0..=height.saturating_sub(WINDOW)).step_by(4) {
        for left in (0..=width.saturating_sub(WINDOW)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in top..(top + WINDOW).min(height) {
                for x in left..(left + WINDOW).min(width) {
                    let (p, q) = (at(a, x, y), at(b, x, y));
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let n = f64::from(WINDOW.min(width) * WINDOW.min(height));
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    total / f64::from(windows)
}

/// A photo-like picture as 8-bit RGB rows: smooth shapes and gradients with fine texture, hard
/// edges and sensor grain, as a camera's JPEG holds (what the picture quality tests measure on).
pub fn photo(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (f64::from(width), f64::from(height));
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let (u, v) = (f64::from(x) / w, f64::from(y) / h);
            let hash = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503).rotate_left(7);
            let grain = f64::from((hash >> 27) as u8) - 16.0; // ±16: sensor noise
            let wave = |fx: f64, fy: f64| (std::f64::consts::TAU * (fx * u + fy * v)).sin();
            // Hard edges too: a bright disc and a dark bar.
            let disc = if (u - 0.3).powi(2) + (v - 0.4).powi(2) < 0.02 {
                50.0
            } else {
                0.0
            };
            let bar = if (0.6..0.65).contains(&u) && v > 0.2 {
                -70.0
            } else {
                0.0
            };
            let channel = |base: f64, a: f64, b: f64| {
                (base
                    + 60.0 * wave(a, b)
                    + 30.0 * wave(b * 3.0, a * 5.0)
                    + disc
                    + bar
                    + grain / 4.0)
                    .clamp(0.0, 255.0) as u8
            };
            pixels.extend_from_slice(&[
                channel(120.0 + 80.0 * u, 3.0, 2.0),
                channel(110.0 + 60.0 * v, 5.0, -4.0),
                channel(100.0, 7.0, 9.0),
            ]);
        }
    }
    pixels
}
