//! The shape of media keys, shared by every media store.
//!
//! Keys are `<32 lowercase hex>.<jpg|png|webp>`, 128 random bits chosen by the store (a picture's
//! WebP rendition takes the name of the rendition it was put beside, with its own extension), so
//! a key can neither be guessed nor name anything outside the store. The store lays them out in
//! a directory or prefix named after the key's first two characters (`ab/ab12....jpg`).

use being_social_domain::model::ImageFormat;

/// Hex characters of the random part of a key.
pub(crate) const KEY_HEX_LEN: usize = 32;

/// Whether `key` has exactly the shape of a key a store issues: 32 lowercase hex characters, a
/// dot and `jpg`, `png` or `webp`. Anything else cannot be ours, and checking the shape before
/// building a path is what keeps `..`, slashes and other surprises away from the store.
pub fn is_valid_key(key: &str) -> bool {
    let Some((stem, ext)) = key.split_once('.') else {
        return false;
    };
    stem.len() == KEY_HEX_LEN
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && ImageFormat::from_extension(ext).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shape() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(is_valid_key(&format!("{hex}.jpg")));
        assert!(is_valid_key(&format!("{hex}.png")));
        assert!(is_valid_key(&format!("{hex}.webp")));
        for bad in [
            "../etc/passwd".to_string(),
            "ABC.jpg".to_string(),
            format!("{hex}.gif"),
            format!("{hex}.JPG"),
            format!("{}.jpg", hex.to_uppercase()),
            format!("{hex}.jpg.png"),
            format!("{hex}jpg"),
            format!("{hex}0.jpg"),
            format!("/{hex}.jpg"),
            format!("../{}.jpg", &hex[3..]),
            format!("{}é.jpg", &hex[2..]),
            format!(".tmp-{}", &hex[..16]),
            String::new(),
            ".jpg".to_string(),
        ] {
            assert!(!is_valid_key(&bad), "{bad}");
        }
    }
}
