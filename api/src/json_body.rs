//! The JSON request bodies every route takes: actix's `web::Json` (its size limit, its
//! content type check and their answers, [`crate::error::json_error`]), plus one rule of
//! ours. No string of a body may hold NUL (`\u0000`): PostgreSQL cannot store it in text or
//! `jsonb`, so it would fail there, as a 500, wherever a handler forgot to look. Such a
//! body answers 422 `validation_failed` before any handler sees it.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body of type `T`, without NUL in any of its strings.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move { parse(&req, bytes.await?).await })
    }
}

/// An optional JSON body: none when the request has no body at all. A body that is sent
/// must be valid, as for [`JsonBody`] (actix's `Option<Json<T>>` would take a malformed
/// one for none, and the route would act as if nothing was sent).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T> OptionalJsonBody<T> {
    pub fn into_inner(self) -> Option<T> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.is_empty() {
                return Ok(OptionalJsonBody(None));
            }
            Ok(OptionalJsonBody(Some(parse(&req, bytes).await?.0)))
        })
    }
}

/// Reads `bytes` as `web::Json` would (its content type check and error answers), then
/// refuses NUL.
async fn parse<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    bytes: web::Bytes,
) -> Result<JsonBody<T>, actix_web::Error> {
    let value = web::Json::<T>::from_request(req, &mut Payload::from(bytes.clone()))
        .await?
        .into_inner();
    if holds_nul(&bytes) {
        return Err(ApiError::validation(
            "a string in the body holds a NUL character (\\u0000), which no value may hold",
        )
        .into());
    }
    Ok(JsonBody(value))
}

/// Whether JSON text holds a `\u0000` escape. Outside strings a backslash is not JSON,
/// and a raw NUL byte is not JSON anywhere, so in a body that parsed this finds every NUL.
pub fn holds_nul(json: &[u8]) -> bool {
    let mut at = 0;
    while at < json.len() {
        if json[at] == b'\\' {
            if json[at + 1..].starts_with(b"u0000") {
                return true;
            }
            // Skip the escaped character: `\\u0000` is a backslash and text.
            at += 2;
        } else {
            at += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::holds_nul;

    #[test]
    fn finds_the_nul_escape_and_nothing_that_only_looks_like_it() {
        assert!(holds_nul(br#"{"a": "x\u0000y"}"#));
        assert!(holds_nul(br#"["\\\u0000"]"#));
        assert!(holds_nul(br#"{"\u0000": 1}"#));
        assert!(!holds_nul(br#"{"a": "x\\u0000y"}"#));
        assert!(holds_nul(br#"{"a": "\u00001"}"#));
        assert!(!holds_nul(br#"{"a": "\u0001"}"#));
        assert!(!holds_nul(br#"{"a": "u0000"}"#));
        assert!(!holds_nul(br#"{"a": "\\"}"#));
    }
}
