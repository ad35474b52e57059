//! Avatars uploaded straight to the bucket (the cloud's upload URL): the client PUTs to the
//! presigned URL, S3's event reaches the csv-import function, which processes the picture.

use super::*;
use crate::api::avatars::{phone_photo, png_bomb_header};
use crate::support::{Place, http_put};

const ANN: &str = "/customers/ann@example.com";

async fn status(rig: &Rig, id: &str) -> Value {
    let reply = rig
        .api
        .get(As::Agent, &format!("{ANN}/avatar/uploads/{id}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Asks for an upload URL, PUTs `image` to it and delivers S3's event (twice: S3 may).
async fn upload(rig: &Rig, image: &[u8]) -> String {
    let asked = rig
        .api
        .post(As::Agent, &format!("{ANN}/avatar/upload"), json!({}))
        .await;
    assert_eq!(asked.status, 201, "{}", asked.body);
    assert_eq!(asked.body["status"], "waiting");
    assert_eq!(asked.body["max_bytes"], 5 * 1024 * 1024);
    let id = asked.body["id"].as_str().unwrap().to_string();
    let url = asked.body["upload_url"].as_str().unwrap();
    assert_eq!(http_put(url, image), 200, "the presigned PUT");
    let key = format!("avatar-uploads/incoming/{id}");
    for _ in 0..2 {
        rig.invoke(s3_event(&key, "etag", image.len()), Duration::from_secs(60))
            .await;
    }
    id
}

async fn direct_avatar_uploads(api: LambdaApi) {
    let rig = Rig::new(api);
    rig.api.create(json!({"email": "ann@example.com"})).await;
    if matches!(rig.api.place, Place::Local { .. }) {
        // The local server takes the picture itself: no upload URLs, and the answer says so.
        let asked = rig
            .api
            .post(As::Agent, &format!("{ANN}/avatar/upload"), json!({}))
            .await;
        asked.assert_problem_status(404);
        assert!(asked.body["detail"].as_str().unwrap().contains("PUT it to"));
        return;
    }
    let id = upload(&rig, &phone_photo()).await;
    let done = status(&rig, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(done.get("upload_url").is_none());
    let customer = rig.customer("ann@example.com").await;
    let url = customer["avatar_image"]["url"].as_str().unwrap();
    let served = rig.api.call_raw(As::Anonymous, "GET", url, &[], None).await;
    assert_eq!(served.status, 200);
    assert_eq!(image::load_from_memory(&served.body).unwrap().width(), 256);
    // The upload itself is gone from the quarantine.
    let waiting = rig
        .api
        .objects
        .list("avatar-uploads/incoming/")
        .await
        .unwrap();
    assert!(waiting.is_empty(), "{waiting:?}");

    // A refused picture: the claim says why, the avatar stays as it was.
    let id = upload(&rig, &png_bomb_header()).await;
    let refused = status(&rig, &id).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert_eq!(refused["problem"]["status"], 422);
    assert_eq!(refused["problem"]["errors"][0]["field"], "body");
    let after = rig.customer("ann@example.com").await;
    assert_eq!(after["avatar_image"], customer["avatar_image"]);
    assert_eq!(after["version"], customer["version"]);

    // Settled claims, kept for the client to read, no longer hold the customer's address.
    let claims = rig
        .api
        .objects
        .list("avatar-uploads/claims/")
        .await
        .unwrap();
    assert_eq!(claims.len(), 2, "{claims:?}");
    for key in claims {
        let claim = rig.api.objects.get(&key).await.unwrap();
        assert!(
            !String::from_utf8_lossy(&claim).contains("ann@example.com"),
            "{key}"
        );
    }

    // Someone else's upload id is not found under this customer.
    rig.api.create(json!({"email": "bob@example.com"})).await;
    let other = rig
        .api
        .get(
            As::Agent,
            &format!("/customers/bob@example.com/avatar/uploads/{id}"),
        )
        .await;
    other.assert_problem_status(404);
}

on_both_stores!(direct_avatar_uploads);
