//! A browser with a software authenticator, for the passkey suites.
//!
//! The authenticator is `webauthn-authenticator-rs`'s `SoftToken` (a CTAP2
//! software token of the kanidm project): it makes real P-256 credentials,
//! signs real assertions with a real signature counter, and writes the
//! `clientDataJSON` with the origin it is given. [`Browser`] adds what a
//! browser does around it:
//!
//! - it takes `options.publicKey` as `parseCreationOptionsFromJSON` /
//!   `parseRequestOptionsFromJSON` would, and posts back what
//!   `credential.toJSON()` gives (`clientExtensionResults`,
//!   `authenticatorAttachment`, no `null`s);
//! - it refuses to create a credential when `excludeCredentials` names one
//!   it holds (`InvalidStateError`);
//! - it keeps discoverable credentials: `SoftToken` stores no resident keys,
//!   so the browser asks it for a plain credential and remembers the
//!   credential id and user handle itself; for a request that lists no
//!   credential it offers the one it holds for the RP id, and it returns
//!   the user handle with every assertion, as a discoverable credential
//!   does. (The user handle is not signed; the server checks it against
//!   the credential it finds.)
//!
//! A test can also play a browser that lies: another origin in
//! `clientDataJSON`, another RP id in the authenticator data, or an
//! authenticator restored from an earlier [`Browser::snapshot`] (a clone,
//! whose counter goes backwards).

use gatehouse_infrastructure::webauthn_rp::strip_nulls;
use serde_json::{Value, json};
use webauthn_authenticator_rs::{AuthenticatorBackend, prelude::Url, softtoken::SoftToken};
use webauthn_rs_proto::{
    AllowCredentials, PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions, ResidentKeyRequirement,
};

const TIMEOUT_MS: u32 = 60_000;

/// A credential this browser holds: its id and the user handle it was
/// created for, under an RP id.
#[derive(Clone, Debug)]
struct Held {
    rp_id: String,
    id: Vec<u8>,
    user_handle: Vec<u8>,
}

/// Why the browser refused, as `navigator.credentials` would reject.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `excludeCredentials` names a credential this authenticator holds.
    InvalidState,
    /// Nothing this authenticator holds is allowed.
    NotAllowed,
}

#[allow(missing_debug_implementations)]
pub struct Browser {
    origin: Url,
    token: SoftToken,
    held: Vec<Held>,
    /// When set, the authenticator signs for this RP id instead of the
    /// one in the options.
    pub forged_rp_id: Option<String>,
}

impl Browser {
    /// A browser on `origin` with a new, empty authenticator that performs
    /// user verification.
    pub fn on(origin: &str) -> Self {
        let (token, _ca) = SoftToken::new(true).expect("a software authenticator");
        Self { origin: Url::parse(origin).expect("an origin"), token, held: Vec::new(), forged_rp_id: None }
    }

    /// The same authenticator, used from another origin.
    pub fn move_to(&mut self, origin: &str) {
        self.origin = Url::parse(origin).expect("an origin");
    }

    /// The authenticator's whole state (keys and counter), to restore a
    /// clone of it later with [`Self::restore`].
    pub fn snapshot(&self) -> Vec<u8> {
        self.token.to_cbor().expect("the token serialises")
    }

    /// Puts back the authenticator saved by [`Self::snapshot`].
    pub fn restore(&mut self, snapshot: &[u8]) {
        self.token = SoftToken::from_cbor(snapshot).expect("the token deserialises");
    }

    /// `navigator.credentials.create({publicKey: parseCreationOptionsFromJSON(options.publicKey)})`,
    /// then `toJSON()`.
    ///
    /// # Errors
    /// [`Refused::InvalidState`] when `excludeCredentials` names a held
    /// credential.
    pub fn create(&mut self, options: &Value) -> Result<Value, Refused> {
        let mut public_key: PublicKeyCredentialCreationOptions =
            serde_json::from_value(options["publicKey"].clone()).expect("creation options in the JSON form");
        let rp_id = public_key.rp.id.clone();
        let excluded = public_key.exclude_credentials.iter().flatten().any(|c| self.holds(&rp_id, &c.id));
        if excluded {
            return Err(Refused::InvalidState);
        }
        if let Some(selection) = public_key.authenticator_selection.as_mut() {
            // The browser keeps the credential discoverable (see the module
            // docs); the token is asked for a plain one.
            selection.require_resident_key = false;
            selection.resident_key = Some(ResidentKeyRequirement::Discouraged);
        }
        let user_handle = public_key.user.id.clone();
        if let Some(forged) = &self.forged_rp_id {
            public_key.rp.id.clone_from(forged);
        }
        let credential =
            AuthenticatorBackend::perform_register(&mut self.token, self.origin.clone(), public_key, TIMEOUT_MS)
                .expect("the authenticator makes a credential");
        self.held.push(Held { rp_id, id: credential.raw_id.clone(), user_handle });
        let mut json = serde_json::to_value(&credential).expect("a registration response");
        as_to_json(&mut json);
        json["response"]["transports"] = json!(["usb"]);
        json["response"]["publicKeyAlgorithm"] = json!(-7);
        Ok(json)
    }

    /// `navigator.credentials.get({publicKey: parseRequestOptionsFromJSON(options.publicKey)})`,
    /// then `toJSON()`.
    ///
    /// # Errors
    /// [`Refused::NotAllowed`] when it holds no allowed credential.
    pub fn get(&mut self, options: &Value) -> Result<Value, Refused> {
        let mut public_key: PublicKeyCredentialRequestOptions =
            serde_json::from_value(options["publicKey"].clone()).expect("request options in the JSON form");
        let rp_id = public_key.rp_id.clone();
        let chosen = if public_key.allow_credentials.is_empty() {
            // A discoverable request: the newest credential for the RP id.
            self.held.iter().rev().find(|h| h.rp_id == rp_id).cloned()
        } else {
            public_key
                .allow_credentials
                .iter()
                .find_map(|c| self.held.iter().find(|h| h.rp_id == rp_id && h.id == c.id))
                .cloned()
        };
        let chosen = chosen.ok_or(Refused::NotAllowed)?;
        public_key.allow_credentials =
            vec![AllowCredentials { type_: "public-key".into(), id: chosen.id.clone(), transports: None }];
        if let Some(forged) = &self.forged_rp_id {
            public_key.rp_id.clone_from(forged);
        }
        let mut assertion =
            AuthenticatorBackend::perform_auth(&mut self.token, self.origin.clone(), public_key, TIMEOUT_MS)
                .expect("the authenticator signs");
        assertion.response.user_handle = Some(chosen.user_handle);
        let mut json = serde_json::to_value(&assertion).expect("an authentication response");
        as_to_json(&mut json);
        Ok(json)
    }

    /// The id (base64url) of the newest credential held.
    pub fn credential_id(&self) -> String {
        use base64::Engine;
        let held = self.held.last().expect("a credential");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&held.id)
    }

    fn holds(&self, rp_id: &str, id: &[u8]) -> bool {
        self.held.iter().any(|h| h.rp_id == rp_id && h.id == id)
    }
}

/// What `PublicKeyCredential.toJSON()` gives for the library's serde form:
/// `clientExtensionResults` for `extensions`, an `authenticatorAttachment`,
/// and no `null` members.
fn as_to_json(json: &mut Value) {
    if let Some(object) = json.as_object_mut() {
        let extensions = object.remove("extensions").unwrap_or_else(|| json!({}));
        object.insert("clientExtensionResults".into(), extensions);
        object.insert("authenticatorAttachment".into(), json!("cross-platform"));
    }
    strip_nulls(json);
}
