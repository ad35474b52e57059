//! Uploaded avatars: the stored record, and what is checked of an upload's bytes before any
//! pixel is decoded (its format from the magic bytes, its structure end to end).
//!
//! The client-given `avatar` field of a profile (an object key, never fetched) is another
//! thing and keeps working; an upload is processed by the helpdesk itself into square sizes.

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;
use crate::domain::validation::FieldError;

/// The most an upload may weigh.
pub const MAX_AVATAR_BYTES: usize = 5 * 1024 * 1024;
/// The longest side an upload may have, and its most pixels (image bombs are refused from
/// the header, before decoding).
pub const MAX_AVATAR_SIDE: u32 = 8_192;
pub const MAX_AVATAR_PIXELS: u64 = 24_000_000;
/// The square sizes written of every avatar, in pixels; views link each.
pub const AVATAR_SIZES: [u32; 3] = [64, 128, 256];
/// Where avatars are kept: `avatars/<customer id>/<content hash>/<size>.<ext>`.
pub const AVATAR_PREFIX: &str = "avatars/";

/// The format the sizes are stored in: JPEG for opaque pictures, PNG when there is
/// transparency to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredFormat {
    Png,
    Jpeg,
}

impl StoredFormat {
    pub fn extension(self) -> &'static str {
        match self {
            StoredFormat::Png => "png",
            StoredFormat::Jpeg => "jpg",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            StoredFormat::Png => "image/png",
            StoredFormat::Jpeg => "image/jpeg",
        }
    }
    pub fn from_extension(extension: &str) -> Option<StoredFormat> {
        match extension {
            "png" => Some(StoredFormat::Png),
            "jpg" => Some(StoredFormat::Jpeg),
            _ => None,
        }
    }
}

/// A customer's uploaded avatar: the folder of its sizes, named by the customer and the
/// content's hash, so a link never changes meaning and can be cached for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarImage {
    /// `avatars/<customer id>/<hash>`.
    pub key: String,
    pub format: StoredFormat,
    pub uploaded_at: Timestamp,
}

impl AvatarImage {
    /// The object key of one size.
    pub fn object_key(&self, size: u32) -> String {
        format!("{}/{size}.{}", self.key, self.format.extension())
    }
    /// Every object of this avatar.
    pub fn object_keys(&self) -> Vec<String> {
        AVATAR_SIZES.iter().map(|s| self.object_key(*s)).collect()
    }
    /// The path one size is served at (the same in the cloud and locally).
    pub fn path(&self, size: u32) -> String {
        format!("/{}", self.object_key(size))
    }
    /// Whether this avatar's objects belong to `customer_id` (not taken over by a merge).
    pub fn belongs_to(&self, customer_id: &str) -> bool {
        self.key.starts_with(&folder_of(customer_id))
    }
}

/// The folder of every avatar uploaded for a customer.
pub fn folder_of(customer_id: &str) -> String {
    format!("{AVATAR_PREFIX}{customer_id}/")
}

/// Parses a served path's parts back into an object key, or `None` for anything that is not
/// exactly an avatar's (so a request can never name another object).
pub fn served_key(customer_id: &str, hash: &str, file: &str) -> Option<(String, StoredFormat)> {
    let id_ok = !customer_id.is_empty()
        && customer_id.len() <= 64
        && customer_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let hash_ok = hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    let (size, extension) = file.split_once('.')?;
    let size_ok = AVATAR_SIZES.iter().any(|s| s.to_string() == size);
    let format = StoredFormat::from_extension(extension)?;
    (id_ok && hash_ok && size_ok).then(|| {
        (
            format!("{AVATAR_PREFIX}{customer_id}/{hash}/{file}"),
            format,
        )
    })
}

/// The formats accepted, read from the magic bytes (never from a name or a content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Png,
    Jpeg,
    WebP,
    Gif,
}

/// Why an upload is refused; each maps to its status (413, 415 or 422) and names `field`.
#[derive(Debug, Clone, PartialEq)]
pub enum AvatarRefusal {
    TooLarge(FieldError),
    Unsupported(FieldError),
    Invalid(FieldError),
}

impl AvatarRefusal {
    fn unsupported(message: impl Into<String>) -> Self {
        AvatarRefusal::Unsupported(FieldError::new("body", message))
    }
    fn invalid(message: impl Into<String>) -> Self {
        AvatarRefusal::Invalid(FieldError::new("body", message))
    }
    pub fn error(&self) -> &FieldError {
        match self {
            AvatarRefusal::TooLarge(e)
            | AvatarRefusal::Unsupported(e)
            | AvatarRefusal::Invalid(e) => e,
        }
    }
}

const ACCEPTED: &str = "PNG, JPEG, WebP or a still GIF";

/// The upload's format from its first bytes. SVG (scripts), animations and every other
/// format are refused.
pub fn sniff(bytes: &[u8]) -> Result<SourceFormat, AvatarRefusal> {
    if bytes.len() > MAX_AVATAR_BYTES {
        return Err(AvatarRefusal::TooLarge(FieldError::new(
            "body",
            format!("an avatar may be at most {} MiB", MAX_AVATAR_BYTES >> 20),
        )));
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(SourceFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(SourceFormat::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Ok(SourceFormat::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Ok(SourceFormat::WebP)
    } else if looks_like_markup(bytes) {
        Err(AvatarRefusal::unsupported(format!(
            "SVG and other markup are not accepted (they can carry scripts); upload a {ACCEPTED}"
        )))
    } else {
        Err(AvatarRefusal::unsupported(format!(
            "not an image this helpdesk takes: upload a {ACCEPTED}"
        )))
    }
}

fn looks_like_markup(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    start
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
}

/// Walks the file's structure to its end marker: a file cut short is refused, and so is one
/// with data after the image (a polyglot: an image that is also an archive, a page or a
/// script). Zero padding after the end is allowed, and so is a phone's motion-photo video
/// after a JPEG. GIFs must hold one frame.
pub fn check_structure(bytes: &[u8], format: SourceFormat) -> Result<(), AvatarRefusal> {
    let end = match format {
        SourceFormat::Png => png_end(bytes),
        SourceFormat::Jpeg => jpeg_end(bytes),
        SourceFormat::WebP => webp_end(bytes),
        SourceFormat::Gif => gif_end(bytes),
    }?;
    let trailing = &bytes[end.min(bytes.len())..];
    if format == SourceFormat::Jpeg && is_motion_photo_video(trailing) {
        return Ok(());
    }
    if trailing.iter().any(|b| *b != 0) {
        return Err(AvatarRefusal::invalid(format!(
            "{} bytes follow the end of the image: a file that is also something else is \
             refused; save the picture again as a plain image",
            trailing.len()
        )));
    }
    Ok(())
}

/// The video a phone appends to a JPEG to make a motion photo: an MP4 file (Google's Motion
/// Photo and MicroVideo, used by Pixel and most Android phones) or Samsung's
/// `MotionPhoto_Data` block. It is taken because re-encoding keeps the pixels alone: the video,
/// like anything else in the file, is never stored or served. Other trailing data (an
/// archive, a page) is still refused, as nothing a camera makes looks like that.
fn is_motion_photo_video(trailing: &[u8]) -> bool {
    trailing.starts_with(b"MotionPhoto_Data") || trailing.get(4..8) == Some(b"ftyp".as_slice())
}

fn truncated() -> AvatarRefusal {
    AvatarRefusal::invalid("the image is truncated or damaged")
}

fn be32(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// PNG: chunks (length, type, data, CRC) up to and including `IEND`.
fn png_end(bytes: &[u8]) -> Result<usize, AvatarRefusal> {
    let mut at = 8;
    loop {
        let length = be32(bytes, at).ok_or_else(truncated)?;
        let kind = bytes.get(at + 4..at + 8).ok_or_else(truncated)?;
        let next = at
            .checked_add(12)
            .and_then(|n| n.checked_add(length))
            .filter(|n| *n <= bytes.len())
            .ok_or_else(truncated)?;
        if kind == b"IEND" {
            return Ok(next);
        }
        at = next;
    }
}

/// JPEG: marker segments, and the entropy-coded data after each start of scan, to `EOI`.
fn jpeg_end(bytes: &[u8]) -> Result<usize, AvatarRefusal> {
    let mut at = 2;
    loop {
        if bytes.get(at) != Some(&0xFF) {
            return Err(truncated());
        }
        let marker = *bytes.get(at + 1).ok_or_else(truncated)?;
        match marker {
            0xD9 => return Ok(at + 2),
            0xFF => at += 1,
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let high = *bytes.get(at + 2).ok_or_else(truncated)? as usize;
                let low = *bytes.get(at + 3).ok_or_else(truncated)? as usize;
                at += 2 + (high << 8 | low);
                if marker == 0xDA {
                    at = scan_end(bytes, at).ok_or_else(truncated)?;
                }
            }
        }
    }
}

/// The next marker after entropy-coded data (`FF 00` is a stuffed byte, `FF D0-D7` restarts).
fn scan_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let found = at + memchr::memchr(0xFF, bytes.get(at..)?)?;
        match *bytes.get(found + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at = found + 1,
            _ => return Some(found),
        }
    }
}

/// WebP: the RIFF container states its own length (padded to even).
fn webp_end(bytes: &[u8]) -> Result<usize, AvatarRefusal> {
    let b = bytes.get(4..8).ok_or_else(truncated)?;
    let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = 8 + size + size % 2;
    if end > bytes.len() + size % 2 {
        return Err(truncated());
    }
    Ok(end.min(bytes.len()))
}

/// GIF: header, colour table, then blocks to the trailer `;`, counting frames.
fn gif_end(bytes: &[u8]) -> Result<usize, AvatarRefusal> {
    let flags = *bytes.get(10).ok_or_else(truncated)?;
    let mut at = 13 + colour_table(flags);
    let mut frames = 0;
    loop {
        match *bytes.get(at).ok_or_else(truncated)? {
            0x3B => break,
            0x21 => at = sub_blocks_end(bytes, at + 2).ok_or_else(truncated)?,
            0x2C => {
                frames += 1;
                let flags = *bytes.get(at + 9).ok_or_else(truncated)?;
                at = sub_blocks_end(bytes, at + 10 + colour_table(flags) + 1)
                    .ok_or_else(truncated)?;
            }
            _ => return Err(truncated()),
        }
    }
    if frames != 1 {
        return Err(AvatarRefusal::unsupported(format!(
            "an animated GIF ({frames} frames) is not accepted; upload a still image"
        )));
    }
    Ok(at + 1)
}

fn colour_table(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

fn sub_blocks_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let length = *bytes.get(at)? as usize;
        at += 1 + length;
        if length == 0 {
            return (at <= bytes.len()).then_some(at);
        }
    }
}

/// Refuses sizes that decode into too many pixels, read from the header alone.
pub fn check_dimensions(width: u32, height: u32) -> Result<(), AvatarRefusal> {
    if width == 0 || height == 0 {
        return Err(AvatarRefusal::invalid("the image has no pixels"));
    }
    if width > MAX_AVATAR_SIDE
        || height > MAX_AVATAR_SIDE
        || u64::from(width) * u64::from(height) > MAX_AVATAR_PIXELS
    {
        return Err(AvatarRefusal::invalid(format!(
            "the image is {width}×{height} pixels; avatars may be at most \
             {MAX_AVATAR_SIDE} pixels a side and 24 megapixels"
        )));
    }
    Ok(())
}
