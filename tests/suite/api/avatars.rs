//! Avatars through the API on both stores: upload, the sizes served, refusals (SVG, animated,
//! polyglot, truncated, oversized, image bombs), removal, merges and erasure.

use super::*;
use crate::support::{RawReply, Reply};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use std::io::Cursor;

const ANN: &str = "/customers/ann@example.com";

/// A 400×200 picture, red on its left half and blue on its right.
fn halves() -> RgbImage {
    RgbImage::from_fn(400, 200, |x, _| {
        if x < 200 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    })
}

fn encoded(picture: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut out), format)
        .unwrap();
    out
}

/// `halves()` as a JPEG whose EXIF says "turn me 90° clockwise" and carries a GPS-like
/// marker that must not survive.
pub(crate) fn phone_photo() -> Vec<u8> {
    let jpeg = encoded(DynamicImage::ImageRgb8(halves()), ImageFormat::Jpeg);
    // TIFF, little-endian: one IFD entry, Orientation (0x0112) = 6, then the marker.
    let mut tiff = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(b"GPS-SECRET-51.5074N");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let length = (app1.len() + 2) as u16;
    let mut photo = jpeg[..2].to_vec();
    photo.extend_from_slice(&[0xFF, 0xE1]);
    photo.extend_from_slice(&length.to_be_bytes());
    photo.extend_from_slice(&app1);
    photo.extend_from_slice(&jpeg[2..]);
    photo
}

pub(crate) fn transparent_png() -> Vec<u8> {
    let picture = RgbaImage::from_fn(300, 300, |x, _| Rgba([0, 128, 0, (x % 256) as u8]));
    encoded(DynamicImage::ImageRgba8(picture), ImageFormat::Png)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
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

fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A well-formed PNG that claims 40,000×40,000 pixels (6.4 GB decoded) in 100-odd bytes.
pub(crate) fn png_bomb_header() -> Vec<u8> {
    let mut ihdr = 40_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&40_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::GifEncoder;
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        for shade in [0u8, 255] {
            let frame = RgbaImage::from_pixel(16, 16, Rgba([shade, 0, 0, 255]));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    out
}

async fn put_avatar(api: &LambdaApi, who: As, path: &str, image: Vec<u8>) -> Reply {
    let raw = api
        .call_raw(
            who,
            "PUT",
            path,
            &[("content-type", "image/jpeg")],
            Some(image),
        )
        .await;
    let body = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    Reply {
        status: raw.status,
        headers: raw.headers,
        body,
    }
}

async fn fetch(api: &LambdaApi, path: &str) -> RawReply {
    api.call_raw(As::Anonymous, "GET", path, &[], None).await
}

fn path_of(customer: &Value, size: &str) -> String {
    customer["avatar_image"]["sizes"][size]
        .as_str()
        .unwrap_or_else(|| panic!("no avatar of size {size}: {customer}"))
        .to_string()
}

fn colour_at(picture: &DynamicImage, x: u32, y: u32) -> [u8; 3] {
    let pixel = picture.to_rgb8().get_pixel(x, y).0;
    [pixel[0], pixel[1], pixel[2]]
}

fn reddish(c: [u8; 3]) -> bool {
    c[0] > 150 && c[2] < 100
}
fn bluish(c: [u8; 3]) -> bool {
    c[2] > 150 && c[0] < 100
}

async fn avatar_upload_serving_and_removal(api: LambdaApi) {
    let ann = api.create(json!({"email": "ann@example.com"})).await;
    let id = ann["id"].as_str().unwrap();
    assert_eq!(ann["avatar_image"], Value::Null);

    let put = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), phone_photo()).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let customer = put.body;
    assert_eq!(customer["version"], 2);
    let url = customer["avatar_image"]["url"].as_str().unwrap();
    assert_eq!(url, path_of(&customer, "256"));
    assert!(
        url.starts_with(&format!("/avatars/{id}/")) && url.ends_with("/256.jpg"),
        "{url}"
    );
    // Every size, square, with our headers; nothing of the EXIF survives, and the picture
    // stands as the EXIF said (red on top after turning).
    for size in [64u32, 128, 256] {
        let got = fetch(&api, &path_of(&customer, &size.to_string())).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.headers["content-type"], "image/jpeg");
        assert_eq!(got.headers["x-content-type-options"], "nosniff");
        assert_eq!(got.headers["content-disposition"], "inline");
        assert!(got.headers["cache-control"].contains("immutable"));
        let picture = image::load_from_memory(&got.body).unwrap();
        assert_eq!((picture.width(), picture.height()), (size, size));
        assert!(!got.body.windows(10).any(|w| w == b"GPS-SECRET"));
        assert!(!got.body.windows(4).any(|w| w == b"Exif"));
        let (top, bottom) = (
            colour_at(&picture, size / 2, size / 8),
            colour_at(&picture, size / 2, size - size / 8),
        );
        assert!(reddish(top) && bluish(bottom), "{top:?} {bottom:?}");
    }
    // The same picture again changes nothing.
    let again = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), phone_photo()).await;
    assert_eq!(again.body["version"], 2, "{}", again.body);
    // Phones' motion photos (the photo with a short video appended, Google's MP4 or Samsung's
    // block) are taken as the photo alone: the video is never stored.
    let mut version = 2;
    for video in [
        b"\0\0\0\x18ftypmp42\0\0\0\0mp42isomVIDEO-SECRET".as_slice(),
        b"MotionPhoto_Data\0\0\0\x18ftypmp42VIDEO-SECRET".as_slice(),
    ] {
        let mut motion = phone_photo();
        motion.extend_from_slice(video);
        let taken = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), motion).await;
        assert_eq!(taken.status, 200, "{}", taken.body);
        version += 1;
        assert_eq!(taken.body["version"], version, "{}", taken.body);
        let got = fetch(&api, &path_of(&taken.body, "256")).await;
        let picture = image::load_from_memory(&got.body).unwrap();
        assert!(
            reddish(colour_at(&picture, 128, 32)),
            "the photo, turned upright"
        );
        assert!(!got.body.windows(12).any(|w| w == b"VIDEO-SECRET"));
    }
    // The history says the avatar changed, and who changed it.
    let history = api.get(As::Agent, &format!("{ANN}/history")).await;
    assert!(
        history.body.to_string().contains("avatar_image"),
        "{}",
        history.body
    );

    // A transparent PNG replaces it (kept as PNG); the old sizes are gone.
    let png = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), transparent_png()).await;
    assert_eq!(png.status, 200, "{}", png.body);
    assert!(path_of(&png.body, "128").ends_with("/128.png"));
    assert_eq!(fetch(&api, &path_of(&customer, "64")).await.status, 404);
    let served = fetch(&api, &path_of(&png.body, "128")).await;
    assert_eq!(served.headers["content-type"], "image/png");
    assert!(
        image::load_from_memory(&served.body)
            .unwrap()
            .color()
            .has_alpha()
    );

    // WebP and a still GIF are taken too.
    for format in [ImageFormat::WebP, ImageFormat::Gif] {
        let picture = encoded(
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(90, 60, Rgba([10, 200, 10, 255]))),
            format,
        );
        let reply = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), picture).await;
        assert_eq!(reply.status, 200, "{format:?}: {}", reply.body);
    }

    // Removal: the field goes, and so do the pictures.
    let current = api.get(As::Agent, ANN).await.body;
    let removed = api.delete(As::Agent, &format!("{ANN}/avatar")).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["avatar_image"], Value::Null);
    assert_eq!(fetch(&api, &path_of(&current, "256")).await.status, 404);
    // The client-given avatar key is another field and keeps working.
    let etag = api.get(As::Agent, ANN).await.headers["etag"].clone();
    let keyed = api
        .patch(
            As::Agent,
            ANN,
            Some(&etag),
            json!({"avatar": "people/ann.png"}),
        )
        .await;
    assert_eq!(keyed.body["avatar"], "people/ann.png", "{}", keyed.body);

    // Deleting the customer deletes their pictures.
    let put = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), phone_photo()).await;
    let picture = path_of(&put.body, "64");
    assert_eq!(fetch(&api, &picture).await.status, 200);
    assert_eq!(api.delete(As::Agent, ANN).await.status, 204);
    assert_eq!(fetch(&api, &picture).await.status, 404);
    let left = api.objects.list(&format!("avatars/{id}/")).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

async fn avatar_refusals_change_nothing(api: LambdaApi) {
    let ann = api.create(json!({"email": "ann@example.com"})).await;
    let id = ann["id"].as_str().unwrap().to_string();
    let path = format!("{ANN}/avatar");
    let valid = encoded(DynamicImage::ImageRgb8(halves()), ImageFormat::Png);
    let mut polyglot = valid.clone();
    polyglot.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let mut zip_polyglot = phone_photo();
    zip_polyglot.extend_from_slice(b"PK\x03\x04\x14\0\0\0\x08\0payload.js");
    let mut oversized = valid.clone();
    oversized.resize(5 * 1024 * 1024 + 1, 0);
    let svg =
        br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("svg", svg.to_vec(), 415, "SVG"),
        ("animated gif", animated_gif(), 415, "animated"),
        ("pdf", b"%PDF-1.7\n1 0 obj".to_vec(), 415, "PNG, JPEG, WebP"),
        ("empty", Vec::new(), 415, "PNG, JPEG, WebP"),
        (
            "truncated png",
            valid[..valid.len() / 2].to_vec(),
            422,
            "truncated",
        ),
        (
            "truncated jpeg",
            phone_photo()[..600].to_vec(),
            422,
            "truncated",
        ),
        ("png + html", polyglot, 422, "follow the end"),
        ("jpeg + zip", zip_polyglot, 422, "follow the end"),
        ("40000×40000 header", png_bomb_header(), 422, "40000×40000"),
        ("over 5 MiB", oversized, 413, "5 MiB"),
    ];
    for (what, bytes, status, says) in cases {
        let reply = put_avatar(&api, As::Agent, &path, bytes).await;
        reply.assert_problem(status, "body");
        assert!(
            reply.body["detail"].as_str().unwrap().contains(says),
            "{what}: {}",
            reply.body
        );
    }
    // Nothing was written: the record and the pictures' folder are as before.
    let after = api.get(As::Agent, ANN).await.body;
    assert_eq!(after["version"], 1);
    assert_eq!(after["avatar_image"], Value::Null);
    let kept = api.objects.list(&format!("avatars/{id}/")).await.unwrap();
    assert!(kept.is_empty(), "{kept:?}");

    // Who may: agents (not anonymous callers); a customer that is not there is 404.
    put_avatar(&api, As::Anonymous, &path, valid.clone())
        .await
        .assert_problem_status(401);
    put_avatar(
        &api,
        As::Agent,
        "/customers/nobody@example.com/avatar",
        valid,
    )
    .await
    .assert_problem_status(404);
    // The serving route names avatars only.
    for bad in [
        format!("/avatars/{id}/0123456789abcdef0123456789abcdef/999.jpg"),
        format!("/avatars/{id}/0123456789abcdef0123456789abcdef/256.svg"),
        format!("/avatars/{id}/not-a-hash/256.jpg"),
        "/avatars/..%2F..%2Fexports/x/256.jpg".to_string(),
    ] {
        assert_eq!(fetch(&api, &bad).await.status, 404, "{bad}");
    }
}

async fn merges_keep_the_targets_avatar_unless_told(api: LambdaApi) {
    for email in ["ann@acme.test", "annie@home.test", "a.lee@home.test"] {
        api.create(json!({"email": email})).await;
    }
    let put = |email: &'static str, image: Vec<u8>| {
        let api = api.clone();
        async move {
            let reply = put_avatar(
                &api,
                As::Agent,
                &format!("/customers/{email}/avatar"),
                image,
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.body["avatar_image"]["url"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let ann = put("ann@acme.test", phone_photo()).await;
    let annie = put("annie@home.test", transparent_png()).await;
    let merged = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["annie@home.test"]}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let target = api.get(As::Agent, "/customers/ann@acme.test").await.body;
    assert_eq!(target["avatar_image"]["url"], ann.as_str());

    let lee = put("a.lee@home.test", transparent_png()).await;
    assert_ne!(lee, annie, "each customer's pictures are their own");
    let merged = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["a.lee@home.test"], "keep": {"avatar": "a.lee@home.test"}}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let target = api.get(As::Agent, "/customers/ann@acme.test").await.body;
    assert_eq!(target["avatar_image"]["url"], lee.as_str());
    assert_eq!(fetch(&api, &lee).await.status, 200);
}

async fn erasure_deletes_every_picture(api: LambdaApi) {
    let ann = api.create(json!({"email": "ann@example.com"})).await;
    let id = ann["id"].as_str().unwrap().to_string();
    api.create(json!({"email": "annie@home.test"})).await;
    let put = put_avatar(&api, As::Agent, &format!("{ANN}/avatar"), phone_photo()).await;
    let first = put.body["avatar_image"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let source = put_avatar(
        &api,
        As::Agent,
        "/customers/annie@home.test/avatar",
        transparent_png(),
    )
    .await;
    let taken = source.body["avatar_image"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    // The merged-in customer's picture becomes Ann's.
    let merged = api
        .post(
            As::Agent,
            &format!("{ANN}/merge"),
            json!({"from": ["annie@home.test"], "keep": {"avatar": "annie@home.test"}}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    crate::support::run_job(&api, "merge", merged.body["merge_id"].as_str().unwrap()).await;

    let requested = api
        .post(As::Admin, &format!("{ANN}/erase"), json!({}))
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let erasure = requested.body["id"].as_str().unwrap().to_string();
    crate::support::run_job(&api, "erasure", &erasure).await;
    let done = api.get(As::Admin, &format!("/erasures/{erasure}")).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    for path in [&first, &taken] {
        assert_eq!(fetch(&api, path).await.status, 404, "{path}");
    }
    let left = api.objects.list("avatars/").await.unwrap();
    assert!(
        left.is_empty(),
        "pictures left after erasing {id}: {left:?}"
    );
}

on_both_stores!(
    avatar_upload_serving_and_removal,
    avatar_refusals_change_nothing,
    merges_keep_the_targets_avatar_unless_told,
    erasure_deletes_every_picture,
);
