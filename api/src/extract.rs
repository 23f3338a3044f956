//! Request extraction: typed JSON bodies ([`Json`] over a [`Body`]) with
//! field-level validation errors, and bearer tokens.
//!
//! A request body is one type: it derives `utoipa::ToSchema` with the real
//! constraints (so `/openapi.json` shows them), and implements [`Body`] to
//! read itself from the JSON object into domain values. Every problem with
//! every field lands in the one `validation_failed` answer.

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    dev::Payload,
    error::PayloadError,
    http::header,
    mime,
    web::{self, Bytes},
};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// A request body that is a JSON object, sent as `application/json` (or a
/// `+json` type) within the body limit. Anything else is refused with the
/// contract's code: 415, 413 or 400 `malformed_json`.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

/// A request body type: how it reads itself from the JSON object.
pub trait Body: Sized {
    /// Reads every field, recording each problem in `fields`; `None` when
    /// any field was missing or broke a rule (and so was recorded). `req`
    /// is there for rules that depend on who asks (the principal, put in
    /// the request's extensions by the auth extractor, which runs first).
    fn read(fields: &mut Fields, req: &HttpRequest) -> Option<Self>;
}

/// A parsed, validated request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: Body + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let object = JsonObject::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let mut fields = Fields::new(object.await?);
            let body = T::read(&mut fields, &req);
            fields.finish(body).map(Json)
        })
    }
}

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

    /// A required string field that holds a secret (a password, a token).
    pub fn secret(&mut self, name: &str) -> Option<SecretString> {
        self.string(name).map(SecretString::from)
    }

    /// Takes field `name` as it is, if present.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name)
    }

    /// Whether the body has `name` with a value other than `null`.
    pub fn present(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    /// Whether the body has `name` at all (even as `null`).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Parses a field already read: `Some` when it was there and `parse`
    /// accepts it, otherwise records `parse`'s complaint as `(code,
    /// message)`.
    pub fn parsed<T, U>(
        &mut self,
        name: &str,
        raw: Option<T>,
        parse: impl FnOnce(T) -> Result<U, (&'static str, String)>,
    ) -> Option<U> {
        match parse(raw?) {
            Ok(value) => Some(value),
            Err((code, message)) => {
                self.reject(name, code, message);
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

    /// An optional field holding a JSON object (absent or `null` is
    /// `None`), as JSON text: a WebAuthn response, passed on whole.
    pub fn optional_object(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(value @ Value::Object(_)) => Some(value.to_string()),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(FieldError::new(
                    name,
                    "invalid_type",
                    "This field must be a JSON object (credential.toJSON()).",
                ));
                None
            }
        }
    }

    /// A required field holding a JSON object, as JSON text.
    pub fn object(&mut self, name: &str) -> Option<String> {
        let present = self.present(name);
        let object = self.optional_object(name);
        if !present {
            self.errors.push(FieldError::new(name, "required", "This field is required."));
        }
        object
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

    /// The body a [`Body::read`] produced, or `validation_failed` with
    /// every collected error.
    ///
    /// # Errors
    /// [`ApiError::Validation`].
    pub fn finish<T>(self, body: Option<T>) -> Result<T, ApiError> {
        match body {
            Some(body) if self.errors.is_empty() => Ok(body),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

/// The bearer token of a request.
///
/// # Errors
/// [`ApiError::MissingToken`] without an `Authorization: Bearer` header.
pub fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    // UTF-8 rather than `to_str`'s byte-by-byte visible-ASCII check: the
    // parser already refused control characters, and anything else that is
    // not a token fails verification.
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| ApiError::InvalidToken)?;
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
