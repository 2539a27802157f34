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
