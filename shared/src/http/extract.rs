//! Extractors: the caller, JSON bodies with a size limit, path and query parameters, If-Match.

use super::*;

// ---------------------------------------------------------------------------------------------
// Extractors.
impl FromRequestParts<AppState> for Caller {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = state.auth.authenticate(parts)?;
        if let Some(audit) = parts.extensions.get::<AuditCaller>() {
            audit.record(&caller.subject);
        }
        Ok(caller)
    }
}

/// A JSON body: at most [`MAX_BODY_BYTES`], `application/json`, syntactically valid.
pub(super) struct JsonBody(pub(super) Value);

impl axum::extract::FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_ascii_lowercase();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        // curl's `-d` labels JSON as form data; what matters is that the body parses as JSON.
        let acceptable = essence == "application/json"
            || essence.ends_with("+json")
            || essence == "application/x-www-form-urlencoded";
        if !acceptable {
            return Err(
                HelpdeskError::bad_request("Content-Type", "must be application/json").into(),
            );
        }
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        Ok(parse_json(&body).map(JsonBody)?)
    }
}

/// A typed request body ([`Command`]): the JSON body of [`JsonBody`], parsed.
pub struct Input<T>(pub T);

impl<T: Command> axum::extract::FromRequest<AppState> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let JsonBody(body) = JsonBody::from_request(request, state).await?;
        Ok(T::parse(body).map(Input)?)
    }
}

pub(super) fn parse_json(body: &Bytes) -> Result<Value, HelpdeskError> {
    if body.is_empty() {
        return Err(HelpdeskError::bad_request(
            "body",
            "a JSON body is required",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| HelpdeskError::bad_request("body", format!("is not valid JSON: {e}")))
}

/// The `If-Match` a change must carry: 428 without one.
pub(super) fn required_precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    precondition(headers)?.ok_or(ApiError::PreconditionRequired)
}

pub(super) fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, HelpdeskError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| HelpdeskError::bad_request("If-Match", "is not valid text"))?;
            Precondition::parse(text).map(Some)
        }
    }
}

pub(super) type Params = std::collections::HashMap<String, String>;

/// Query strings are parsed by hand so that every bad parameter is a problem+json naming it.
pub(super) fn query_params(raw: Option<String>, allowed: &[&str]) -> Result<Params, HelpdeskError> {
    let mut params = Params::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(HelpdeskError::bad_request(
                key.to_string(),
                "unknown query parameter",
            ));
        }
        if params.insert(key.to_string(), value.to_string()).is_some() {
            return Err(HelpdeskError::bad_request(
                key.to_string(),
                "given more than once",
            ));
        }
    }
    Ok(params)
}

/// One path parameter, percent-decoded; a bad one is a problem+json, not axum's plain text.
pub struct Param(pub String);

impl FromRequestParts<AppState> for Param {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Param(value))
            .map_err(|_| HelpdeskError::bad_request("path", "is not a valid path parameter"))
    }
}

/// A path parameter that names something ([`Named`]: a customer by email, a ticket, a
/// company, a job, a merge): one that cannot be such a name is answered as one that does not
/// exist, 404.
pub struct Id<T>(pub T);

impl<T: Named> FromRequestParts<AppState> for Id<T> {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Param(raw) = Param::from_request_parts(parts, state).await?;
        T::parse_name(&raw)
            .map(Id)
            .ok_or_else(|| HelpdeskError::NotFound(format!("{} {}", T::WHAT, raw.trim())))
    }
}

/// Two path parameters, as [`Param`] does one.
pub struct Params2(pub String, pub String);

impl FromRequestParts<AppState> for Params2 {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|Path((a, b))| Params2(a, b))
            .map_err(|_| HelpdeskError::bad_request("path", "is not a valid path parameter"))
    }
}

/// A JSON Merge Patch (RFC 7396): any object; `null` removes a field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
#[expect(
    dead_code,
    reason = "described for the OpenAPI document; patches are read as JSON"
)]
pub struct MergePatch(pub Value);
