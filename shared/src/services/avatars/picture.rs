//! Turns an upload into the stored sizes: checks before decoding, decodes with limits, turns
//! the picture upright, crops it square and writes each size afresh. Re-encoding keeps only
//! pixels: EXIF (GPS, camera), comments and any other metadata are left behind.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::domain::avatar::{
    AVATAR_SIZES, AvatarRefusal, MAX_AVATAR_SIDE, SourceFormat, StoredFormat, check_dimensions,
    check_structure, sniff,
};
use crate::domain::validation::FieldError;

/// The most a decode may allocate: 24 megapixels of 8-bit RGBA and room, within the API
/// function's 256 MB (a 24-megapixel JPEG peaks near 100 MiB in all). 16-bit pictures that
/// large are refused with a message saying so.
const DECODE_ALLOCATION: u64 = 128 * 1024 * 1024;
/// Scaling from a picture's own size to 256 pixels with Lanczos costs most of the work; a
/// fast box scaling first, to twice the largest size, leaves Lanczos little to do and looks
/// the same (the box steps are far finer than the result's pixels).
const PRESCALE_TO: u32 = 512;
/// JPEG quality of the stored sizes: no visible loss at avatar sizes.
const JPEG_QUALITY: u8 = 85;

/// An upload made ready to store: its content hash and its sizes, encoded.
#[derive(Debug)]
pub struct Picture {
    /// The first 128 bits of the upload's SHA-256, in hex.
    pub hash: String,
    pub format: StoredFormat,
    pub sizes: Vec<(u32, Vec<u8>)>,
}

/// Checks and processes an upload (CPU-bound: call it on a blocking thread).
pub fn process(bytes: &[u8]) -> Result<Picture, AvatarRefusal> {
    let format = sniff(bytes)?;
    let (width, height) = header_reader(bytes, format)
        .into_dimensions()
        .map_err(|_| damaged())?;
    check_dimensions(width, height)?;
    check_structure(bytes, format)?;
    let square = upright_square(decode(bytes, format)?);
    let stored = if square.color().has_alpha() {
        StoredFormat::Png
    } else {
        StoredFormat::Jpeg
    };
    let sizes = AVATAR_SIZES
        .iter()
        .map(|size| Ok((*size, encode(&square, *size, stored)?)))
        .collect::<Result<Vec<_>, AvatarRefusal>>()?;
    Ok(Picture {
        hash: content_hash(bytes),
        format: stored,
        sizes,
    })
}

fn content_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

fn decode_error(error: image::ImageError) -> AvatarRefusal {
    match error {
        image::ImageError::Limits(_) => AvatarRefusal::Invalid(FieldError::new(
            "body",
            format!(
                "the picture needs more than {} MiB to decode (16 bits a channel?); save it \
                 as an 8-bit JPEG or PNG",
                DECODE_ALLOCATION >> 20
            ),
        )),
        _ => damaged(),
    }
}

fn damaged() -> AvatarRefusal {
    AvatarRefusal::Invalid(FieldError::new("body", "the image is truncated or damaged"))
}

/// A reader of the header alone: no limits, since it decodes nothing (the limits would
/// refuse a bomb as "damaged" instead of saying its size).
fn header_reader(bytes: &[u8], format: SourceFormat) -> ImageReader<Cursor<&[u8]>> {
    let format = match format {
        SourceFormat::Png => ImageFormat::Png,
        SourceFormat::Jpeg => ImageFormat::Jpeg,
        SourceFormat::WebP => ImageFormat::WebP,
        SourceFormat::Gif => ImageFormat::Gif,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    reader
}

/// A reader that decodes within the limits, whatever the header said.
fn reader(bytes: &[u8], format: SourceFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = header_reader(bytes, format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_AVATAR_SIDE);
    limits.max_image_height = Some(MAX_AVATAR_SIDE);
    limits.max_alloc = Some(DECODE_ALLOCATION);
    reader.limits(limits);
    reader
}

/// Decodes the picture and turns it as its EXIF orientation says (phones store it sideways).
fn decode(bytes: &[u8], format: SourceFormat) -> Result<DynamicImage, AvatarRefusal> {
    let mut decoder = reader(bytes, format).into_decoder().map_err(decode_error)?;
    let orientation = decoder.orientation().ok();
    let mut picture = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(orientation) = orientation {
        picture.apply_orientation(orientation);
    }
    Ok(picture)
}

/// The centred square of the picture at the largest size, as 8-bit RGB(A). Scaled before it
/// is cropped, so a large picture is never copied whole.
fn upright_square(picture: DynamicImage) -> DynamicImage {
    let largest = AVATAR_SIZES.iter().copied().max().unwrap_or(256);
    let short_side = picture.width().min(picture.height());
    let picture = if short_side >= 2 * PRESCALE_TO {
        let scale = f64::from(PRESCALE_TO) / f64::from(short_side);
        let width = (f64::from(picture.width()) * scale).round().max(1.0) as u32;
        let height = (f64::from(picture.height()) * scale).round().max(1.0) as u32;
        picture.thumbnail_exact(width, height)
    } else {
        picture
    };
    let square = picture.resize_to_fill(largest, largest, FilterType::Lanczos3);
    if square.color().has_alpha() {
        DynamicImage::ImageRgba8(square.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(square.into_rgb8())
    }
}

fn encode(
    square: &DynamicImage,
    size: u32,
    format: StoredFormat,
) -> Result<Vec<u8>, AvatarRefusal> {
    // A picture smaller than a size was scaled up: every size exists for every avatar.
    let resized = if size == square.width() {
        square.clone()
    } else {
        square.resize_exact(size, size, FilterType::Lanczos3)
    };
    let mut out = Vec::new();
    let written = match format {
        StoredFormat::Png => resized.write_to(&mut Cursor::new(&mut out), ImageFormat::Png),
        StoredFormat::Jpeg => resized.write_with_encoder(
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY),
        ),
    };
    written.map_err(|_| damaged())?;
    Ok(out)
}
