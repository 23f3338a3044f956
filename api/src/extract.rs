//! Request extraction: JSON bodies with field-level validation errors, and
//! bearer tokens.

use std::future::Future;
use std::pin::Pin;

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    dev::Payload,
    error::PayloadError,
    http::header,
    mime,
    web::{self, Bytes},
};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// A request body that is a JSON object, sent as `application/json` (or a
/// `+json` type) within the body limit. Anything else is refused with the
/// contract's code: 415, 413 or 400 `malformed_json`.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = req.mime_type().ok().flatten().is_some_and(|m| {
            m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
        let bytes = json.then(|| Bytes::from_request(req, payload));
        Box::pin(async move {
            let Some(bytes) = bytes else { return Err(ApiError::UnsupportedMediaType) };
            let bytes = bytes.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge,
                _ => ApiError::MalformedJson,
            })?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(Self(map)),
                _ => Err(ApiError::MalformedJson),
            }
        })
    }
}

/// Reads fields from a [`JsonObject`], collecting one [`FieldError`] per
/// missing or mistyped field so that a client learns every problem at once.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new(body: JsonObject) -> Self {
        Self { map: body.0, errors: Vec::new() }
    }

    /// A required string field.
    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "required", "This field is required."));
                None
            }
            Some(_) => {
                self.errors.push(FieldError::new(name, "invalid_type", "This field must be a string."));
                None
            }
        }
    }

    /// An optional string field (absent or `null` is `None`).
    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(FieldError::new(name, "invalid_type", "This field must be a string."));
                None
            }
        }
    }

    /// An optional boolean field (absent or `null` is `None`).
    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.map.remove(name) {
            Some(Value::Bool(b)) => Some(b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(FieldError::new(name, "invalid_type", "This field must be true or false."));
                None
            }
        }
    }

    /// Records a rule violation for `name`.
    pub fn reject(&mut self, name: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, code, message));
    }

    /// `Err(validation_failed)` with every collected error, if any.
    ///
    /// # Errors
    /// [`ApiError::Validation`].
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}

/// The bearer token of a request.
///
/// # Errors
/// [`ApiError::MissingToken`] without an `Authorization: Bearer` header.
pub fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() { Err(ApiError::MissingToken) } else { Ok(token) }
}

/// The JSON body size limit, as app data.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}
