//! The WebAuthn relying party: [`webauthn-rs`](https://docs.rs/webauthn-rs)
//! (the kanidm project's), behind the application's
//! [`PasskeyRelyingParty`] port.
//!
//! What Gatehouse adds to the library:
//! - options are the WebAuthn Level 3 JSON forms wrapped as
//!   `{"publicKey": ...}`, with every `null` member left out (browsers'
//!   `parseCreationOptionsFromJSON` rejects `null` lists);
//! - registration asks for a discoverable credential (`residentKey:
//!   "required"`): the library's passkey registration discourages one,
//!   and Gatehouse passkeys sign in without a username;
//! - the stored sign count is handed back on each sign-in, so a count that
//!   does not grow is refused ([`PasskeyError::SignCountRegressed`]).
//!
//! State and credentials cross the port as the library's own JSON.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_application::ports::{
    PasskeyAssertion, PasskeyError, PasskeyRelyingParty, RegisteredPasskey, StartedCeremony, StoredPasskey,
};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

/// Why the relying-party settings were refused (at start-up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelyingPartyConfigError {
    #[error("webauthn.origins must list at least one origin")]
    NoOrigins,
    #[error("webauthn.origins: {0:?} is not an origin such as https://login.example.com")]
    NotAnOrigin(String),
    #[error(
        "webauthn.origins: {0} is plain http on a host other than localhost; browsers allow passkeys only over https"
    )]
    Insecure(String),
    #[error(
        "webauthn.rp_id {rp_id:?} is not a registrable suffix of the host of {origin} (use the host itself or a parent domain)"
    )]
    NotASuffix { rp_id: String, origin: String },
    #[error("webauthn.rp_id {0:?} must be a domain name (not empty, not an IP address, no scheme or port)")]
    BadRpId(String),
}

/// The relying party: RP id, name and the origins it accepts.
#[derive(Clone)]
pub struct WebauthnRelyingParty {
    webauthn: Webauthn,
}

impl fmt::Debug for WebauthnRelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebauthnRelyingParty").field("origins", &self.webauthn.get_allowed_origins()).finish()
    }
}

/// Checks `webauthn.rp_id` against `webauthn.origins` as browsers will: the
/// RP id must be a domain that every origin's host equals or ends with
/// (after a dot), and origins other than localhost must be https. Returns
/// the parsed origins.
///
/// # Errors
/// [`RelyingPartyConfigError`], whose message is one line naming the
/// setting.
pub fn check_relying_party(rp_id: &str, origins: &[String]) -> Result<Vec<Url>, RelyingPartyConfigError> {
    let is_domain = !rp_id.is_empty()
        && rp_id.parse::<std::net::IpAddr>().is_err()
        && rp_id
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !is_domain {
        return Err(RelyingPartyConfigError::BadRpId(rp_id.to_owned()));
    }
    if origins.is_empty() {
        return Err(RelyingPartyConfigError::NoOrigins);
    }
    let rp_id = rp_id.to_ascii_lowercase();
    origins
        .iter()
        .map(|text| {
            let url = Url::parse(text).map_err(|_| RelyingPartyConfigError::NotAnOrigin(text.clone()))?;
            let is_origin = matches!(url.scheme(), "http" | "https")
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty();
            let Some(host) = url.domain().filter(|_| is_origin) else {
                return Err(RelyingPartyConfigError::NotAnOrigin(text.clone()));
            };
            let host = host.to_ascii_lowercase();
            let local = host == "localhost" || host.ends_with(".localhost");
            if url.scheme() == "http" && !local {
                return Err(RelyingPartyConfigError::Insecure(text.clone()));
            }
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(RelyingPartyConfigError::NotASuffix { rp_id: rp_id.clone(), origin: text.clone() });
            }
            Ok(url)
        })
        .collect()
}

impl WebauthnRelyingParty {
    /// A relying party for `rp_id`, shown to users as `rp_name`, accepting
    /// exactly `origins` (scheme, host and port).
    ///
    /// # Errors
    /// [`RelyingPartyConfigError`] (see [`check_relying_party`]).
    pub fn new(rp_id: &str, rp_name: &str, origins: &[String]) -> Result<Self, RelyingPartyConfigError> {
        let urls = check_relying_party(rp_id, origins)?;
        let rp_id = rp_id.to_ascii_lowercase();
        let not_a_suffix =
            |origin: &Url| RelyingPartyConfigError::NotASuffix { rp_id: rp_id.clone(), origin: origin.to_string() };
        let (first, rest) = urls.split_first().ok_or(RelyingPartyConfigError::NoOrigins)?;
        let mut builder = WebauthnBuilder::new(&rp_id, first).map_err(|_| not_a_suffix(first))?.rp_name(rp_name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|_| not_a_suffix(first))?;
        Ok(Self { webauthn })
    }
}

fn internal(error: impl fmt::Display) -> PasskeyError {
    PasskeyError::Internal(error.to_string())
}

fn rejected(error: WebauthnError) -> PasskeyError {
    match error {
        WebauthnError::CredentialPossibleCompromise => PasskeyError::SignCountRegressed,
        other => PasskeyError::Rejected(other.to_string()),
    }
}

/// Leaves out every `null` member, at any depth: what the WebAuthn JSON
/// forms want where a member has no value.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// `{"publicKey": options}`, without `null`s.
fn wrapped(public_key: &impl serde::Serialize) -> Result<Value, PasskeyError> {
    let mut options = serde_json::json!({ "publicKey": serde_json::to_value(public_key).map_err(internal)? });
    strip_nulls(&mut options);
    Ok(options)
}

fn parse_response<T: serde::de::DeserializeOwned>(response: &str, form: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(response).map_err(|e| PasskeyError::Rejected(format!("not a {form}: {e}")))
}

/// A stored passkey with its current sign count.
fn credential(stored: &StoredPasskey<'_>) -> Result<Credential, PasskeyError> {
    let passkey: Passkey = serde_json::from_slice(stored.credential).map_err(internal)?;
    let mut credential = Credential::from(passkey);
    credential.counter = stored.sign_count;
    Ok(credential)
}

impl PasskeyRelyingParty for WebauthnRelyingParty {
    fn start_registration(
        &self,
        user_handle: Uuid,
        username: &str,
        exclude: &[String],
    ) -> Result<StartedCeremony, PasskeyError> {
        let exclude: Vec<_> = exclude.iter().filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok()).collect();
        let (challenge, state) = self
            .webauthn
            .start_passkey_registration(user_handle, username, username, (!exclude.is_empty()).then_some(exclude))
            .map_err(internal)?;
        let mut options = wrapped(&challenge.public_key)?;
        if let Some(Value::Object(selection)) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection.insert("residentKey".into(), Value::from("required"));
            selection.insert("requireResidentKey".into(), Value::from(true));
        }
        // An empty list rather than none: clients find the member where the
        // contract puts it.
        if let Some(Value::Object(public_key)) = options.get_mut("publicKey") {
            public_key.entry("excludeCredentials").or_insert_with(|| Value::Array(Vec::new()));
        }
        Ok(StartedCeremony { options: options.to_string(), state: serde_json::to_vec(&state).map_err(internal)? })
    }

    fn finish_registration(
        &self,
        user_handle: Uuid,
        state: &[u8],
        response: &str,
    ) -> Result<RegisteredPasskey, PasskeyError> {
        let state: PasskeyRegistration = serde_json::from_slice(state).map_err(internal)?;
        let response: RegisterPublicKeyCredential = parse_response(response, "RegistrationResponseJSON")?;
        let passkey = self.webauthn.finish_passkey_registration(&response, &state).map_err(rejected)?;
        let stored = serde_json::to_vec(&passkey).map_err(internal)?;
        let credential = Credential::from(passkey);
        let transports = credential
            .transports
            .iter()
            .flatten()
            .filter_map(|t| serde_json::to_value(t).ok()?.as_str().map(str::to_owned))
            .filter(|t| t != "unknown")
            .collect();
        Ok(RegisteredPasskey {
            credential_id: URL_SAFE_NO_PAD.encode(credential.cred_id.as_slice()),
            credential: stored,
            sign_count: credential.counter,
            user_handle: URL_SAFE_NO_PAD.encode(user_handle.as_bytes()),
            transports,
        })
    }

    fn start_sign_in(&self) -> Result<StartedCeremony, PasskeyError> {
        let (challenge, state) = self.webauthn.start_discoverable_authentication().map_err(internal)?;
        let options = wrapped(&challenge.public_key)?.to_string();
        Ok(StartedCeremony { options, state: serde_json::to_vec(&state).map_err(internal)? })
    }

    fn identify(&self, response: &str) -> Result<(Uuid, String), PasskeyError> {
        let response: PublicKeyCredential = parse_response(response, "AuthenticationResponseJSON")?;
        let (user, credential_id) = self.webauthn.identify_discoverable_authentication(&response).map_err(rejected)?;
        Ok((user, URL_SAFE_NO_PAD.encode(credential_id)))
    }

    fn finish_sign_in(
        &self,
        state: &[u8],
        response: &str,
        stored: StoredPasskey<'_>,
    ) -> Result<PasskeyAssertion, PasskeyError> {
        let state: DiscoverableAuthentication = serde_json::from_slice(state).map_err(internal)?;
        let response: PublicKeyCredential = parse_response(response, "AuthenticationResponseJSON")?;
        let credential = credential(&stored)?;
        let result =
            self.webauthn.finish_discoverable_authentication_v2(&response, state, &credential).map_err(rejected)?;
        Ok(PasskeyAssertion {
            credential_id: URL_SAFE_NO_PAD.encode(result.cred_id().as_slice()),
            sign_count: result.counter(),
        })
    }

    fn start_second_factor(&self, credentials: &[StoredPasskey<'_>]) -> Result<StartedCeremony, PasskeyError> {
        let passkeys =
            credentials.iter().map(|stored| credential(stored).map(Passkey::from)).collect::<Result<Vec<_>, _>>()?;
        let (challenge, state) = self.webauthn.start_passkey_authentication(&passkeys).map_err(internal)?;
        let options = wrapped(&challenge.public_key)?.to_string();
        Ok(StartedCeremony { options, state: serde_json::to_vec(&state).map_err(internal)? })
    }

    fn finish_second_factor(&self, state: &[u8], response: &str) -> Result<PasskeyAssertion, PasskeyError> {
        let state: PasskeyAuthentication = serde_json::from_slice(state).map_err(internal)?;
        let response: PublicKeyCredential = parse_response(response, "AuthenticationResponseJSON")?;
        let result = self.webauthn.finish_passkey_authentication(&response, &state).map_err(rejected)?;
        Ok(PasskeyAssertion {
            credential_id: URL_SAFE_NO_PAD.encode(result.cred_id().as_slice()),
            sign_count: result.counter(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_defaults_are_a_valid_relying_party() {
        assert!(WebauthnRelyingParty::new("localhost", "Gatehouse", &origins(&["http://localhost:8080"])).is_ok());
    }

    #[test]
    fn the_rp_id_may_be_the_host_or_a_parent_domain_of_every_origin() {
        let ok = origins(&["https://login.example.com", "https://example.com", "https://a.b.example.com:8443"]);
        assert!(check_relying_party("example.com", &ok).is_ok());
        for bad in ["https://example.org", "https://notexample.com", "https://example.com.evil.org"] {
            let err = check_relying_party("example.com", &origins(&["https://example.com", bad])).unwrap_err();
            assert!(matches!(err, RelyingPartyConfigError::NotASuffix { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn origins_must_be_origins_served_over_https_off_localhost() {
        for bad in ["example.com", "https://example.com/login", "ftp://example.com", "https://192.0.2.1"] {
            assert!(check_relying_party("example.com", &origins(&[bad])).is_err(), "{bad}");
        }
        assert_eq!(
            check_relying_party("example.com", &origins(&["http://example.com"])),
            Err(RelyingPartyConfigError::Insecure("http://example.com".into()))
        );
        assert!(check_relying_party("localhost", &origins(&["http://app.localhost:3000"])).is_ok());
        assert_eq!(check_relying_party("localhost", &[]), Err(RelyingPartyConfigError::NoOrigins));
    }

    #[test]
    fn the_rp_id_is_a_bare_domain() {
        for bad in ["", "https://example.com", "example.com:443", "192.0.2.1", "exa mple.com", ".example.com"] {
            assert!(
                matches!(
                    check_relying_party(bad, &origins(&["https://example.com"])),
                    Err(RelyingPartyConfigError::BadRpId(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn creation_options_ask_for_a_discoverable_verified_credential_without_nulls() {
        let rp = WebauthnRelyingParty::new("localhost", "Gatehouse", &origins(&["http://localhost:8080"])).unwrap();
        let exclude = [URL_SAFE_NO_PAD.encode([7u8; 16])];
        let started = rp.start_registration(Uuid::nil(), "alice", &exclude).unwrap();
        let options: Value = serde_json::from_str(&started.options).unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert_eq!(options["publicKey"]["excludeCredentials"][0]["id"], exclude[0].as_str());
        assert!(!started.options.contains("null"), "{}", started.options);
        let first = rp.start_registration(Uuid::nil(), "alice", &[]).unwrap();
        let options: Value = serde_json::from_str(&first.options).unwrap();
        assert_eq!(options["publicKey"]["excludeCredentials"], serde_json::json!([]), "present, and empty");
    }

    #[test]
    fn request_options_require_user_verification_and_list_no_credential() {
        let rp = WebauthnRelyingParty::new("localhost", "Gatehouse", &origins(&["http://localhost:8080"])).unwrap();
        let started = rp.start_sign_in().unwrap();
        let options: Value = serde_json::from_str(&started.options).unwrap();
        assert_eq!(options["publicKey"]["userVerification"], "required");
        assert_eq!(options["publicKey"]["rpId"], "localhost");
        assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty));
        assert!(!started.options.contains("null"), "{}", started.options);
    }

    #[test]
    fn a_response_that_is_not_json_is_rejected_not_an_internal_error() {
        let rp = WebauthnRelyingParty::new("localhost", "Gatehouse", &origins(&["http://localhost:8080"])).unwrap();
        assert!(matches!(rp.identify("{\"id\": 1}"), Err(PasskeyError::Rejected(_))));
        let started = rp.start_registration(Uuid::nil(), "alice", &[]).unwrap();
        assert!(matches!(rp.finish_registration(Uuid::nil(), &started.state, "[]"), Err(PasskeyError::Rejected(_))));
    }
}
