//! Secrets in the configuration: where they come from, how they are read, and
//! how they are shown (never).
//!
//! A secret is written inline (`"s3cret"`), as `{ env = "NAME" }` or as
//! `{ file = "/run/credentials/postcall.service/token" }` (systemd
//! `LoadCredential=`). Serializing a secret masks inline values, so printing a
//! configuration cannot leak one.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;

/// What `postcall check` prints instead of a secret value.
pub const MASK: &str = "********";

/// A secret: inline, from an environment variable, or from a file (systemd
/// `LoadCredential=`). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    Env { env: String },
    File { file: PathBuf },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret(<inline, masked>)"),
            Secret::Env { env } => write!(f, "Secret(env {env})"),
            Secret::File { file } => write!(f, "Secret(file {})", file.display()),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Secret {
    /// The secret's value; a trailing newline of a secret file is dropped.
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            Secret::Inline(v) => Ok(v.clone()),
            Secret::Env { env } => {
                std::env::var(env).map_err(|_| SecretError::EnvMissing(env.clone()))
            }
            Secret::File { file } => std::fs::read_to_string(file)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|source| SecretError::File {
                    path: file.clone(),
                    source,
                }),
        }
    }

    /// The value when it is written in the file itself.
    pub fn inline(&self) -> Option<&str> {
        match self {
            Secret::Inline(v) => Some(v),
            _ => None,
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Secret::Inline(_) => s.serialize_str(MASK),
            Secret::Env { env } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("env", env)?;
                m.end()
            }
            Secret::File { file } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", file)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

const SECRET_FORMS: &str =
    "a secret is a string, { env = \"VARIABLE\" } or { file = \"/path/to/file\" }";

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(SECRET_FORMS)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::Inline(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut found: Option<Secret> = None;
        while let Some(key) = map.next_key::<String>()? {
            if found.is_some() {
                return Err(de::Error::custom(format!(
                    "`{key}` given too; {SECRET_FORMS}, one source only"
                )));
            }
            found = Some(match key.as_str() {
                "env" => Secret::Env {
                    env: map.next_value()?,
                },
                "file" => Secret::File {
                    file: map.next_value()?,
                },
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown field `{other}`; {SECRET_FORMS}"
                    )))
                }
            });
        }
        found.ok_or_else(|| de::Error::custom(format!("empty table; {SECRET_FORMS}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct Holder {
        s: Secret,
    }

    fn parse(text: &str) -> Result<Secret, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.s)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn three_forms_parse() {
        assert_eq!(parse("s = \"x\"").unwrap(), Secret::Inline("x".into()));
        assert_eq!(
            parse("s = { env = \"TOKEN\" }").unwrap(),
            Secret::Env {
                env: "TOKEN".into()
            }
        );
        assert_eq!(
            parse("s = { file = \"/a/b\" }").unwrap(),
            Secret::File {
                file: "/a/b".into()
            }
        );
    }

    #[test]
    fn wrong_shapes_say_what_is_expected() {
        let e = parse("s = { path = \"/a\" }").unwrap_err();
        assert!(e.contains("unknown field `path`"), "{e}");
        let e = parse("s = { env = \"A\", file = \"/b\" }").unwrap_err();
        assert!(e.contains("one source only"), "{e}");
        let e = parse("s = 5").unwrap_err();
        assert!(e.contains("a secret is a string"), "{e}");
    }

    #[test]
    fn serializing_masks_inline_values_only() {
        let shown = toml::to_string(&Holder {
            s: Secret::Inline("hunter2".into()),
        })
        .unwrap();
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains(MASK));
        let shown = toml::to_string(&Holder {
            s: Secret::Env { env: "TOK".into() },
        })
        .unwrap();
        assert!(shown.contains("env = \"TOK\""), "{shown}");
    }

    #[test]
    fn file_secret_drops_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(Secret::File { file: path }.resolve().unwrap(), "abc");
        let missing = Secret::File {
            file: dir.path().join("none"),
        };
        assert!(matches!(missing.resolve(), Err(SecretError::File { .. })));
    }
}
