//! Templates → a rendered request.
//!
//! A REST service's URL, header values, parameter values and raw body are
//! minijinja templates over `{ call: <CallRecord>, vars: <the application
//! leg's raw variables> }`. Each value is escaped for where it lands:
//!
//! - **URL**: every `{{ … }}` is percent-encoded as a URL component (`/`,
//!   `?`, `&`, `=`, `#` included); mark a value `|safe` to insert it as is.
//!   A value at the very start of the URL supplies its scheme and host and
//!   is inserted as is: `{{ vars.crm_url }}/calls` works for a per-call URL
//!   from a channel variable. When that value is empty for a call the
//!   delivery fails permanently (dead, retryable) with a message saying so;
//!   the stated fallback is written in the template:
//!   `{{ vars.crm_url or "https://crm.example.com/hook" }}/calls`.
//! - **Parameters**: rendered raw, then serialised by a form-urlencoded
//!   serializer into the body for POST, into the query for every other
//!   method.
//! - **Headers**: a value containing CR, LF or NUL is refused, naming the
//!   header; nothing is sent.
//! - **JSON bodies** (a content type of `application/json` or `…+json`):
//!   every `{{ … }}` is written as a JSON value (strings quoted and escaped,
//!   `null` for none), so write `{"from": {{ call.from }}}` — or, equally,
//!   `{{ call.from|tojson }}` — never `"{{ call.from }}"`. The rendered body
//!   must parse as JSON. The default body (no template) is the whole record
//!   as compact JSON.
//!
//! A template that fails at send time is a permanent failure with a message
//! naming the part (`url`, `header X-Foo`, `param id`, `body`), never a panic.

use chrono_tz::Tz;
use minijinja::{Environment, Value};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use url::Url;

use crate::call::record::CallRecord;
use crate::deliver::sign::{check_header, HeaderProblem};
use crate::template::{call_context, environment, error_chain, leading_value_as_base, TIMEZONE};

/// The default content type of a raw body.
pub const JSON: &str = "application/json";

/// The REST methods of seed 000: GET (params in the query), POST (params
/// form-encoded), POST_RAW and PUT (the `body` template, default the whole
/// record as JSON; params in the query), DELETE (params in the query, the
/// `body` template when one is given).
pub use crate::config::Method;

/// The HTTP method on the wire.
pub fn http_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post | Method::PostRaw => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// The templates of one REST service, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: Method,
    pub url: String,
    /// Header name → value template, in order.
    pub headers: Vec<(String, String)>,
    /// Parameter name → value template, in order.
    pub params: Vec<(String, String)>,
    /// The raw body template; `None` for the default.
    pub body: Option<String>,
    /// Content type of a raw body; default `application/json`.
    pub content_type: Option<String>,
}

/// A request ready to sign and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Why a service's templates could not be compiled or rendered. The
/// messages name the part but never the rendered value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{part}: template does not compile: {message}")]
    Compile { part: String, message: String },
    #[error("{part}: template failed: {message}")]
    Template { part: String, message: String },
    #[error("url: the rendered URL is not usable: {reason}")]
    Url { reason: String },
    #[error("header {header}: the value contains CR, LF or another control character; not sent")]
    HeaderValue { header: String },
    #[error("header {header:?}: not a valid header name")]
    HeaderName { header: String },
    #[error("body: the rendered body is not valid JSON ({message}); write values as {{{{ x|tojson }}}} without quotes")]
    BodyNotJson { message: String },
    #[error("body: cannot encode the call record: {message}")]
    Encode { message: String },
}

impl RenderError {
    /// The message for a private service: which part failed, not why (the
    /// reason may quote rendered data).
    pub fn redacted(&self) -> String {
        match self {
            RenderError::Compile { part, .. } | RenderError::Template { part, .. } => {
                format!("{part}: template failed: <private>")
            }
            RenderError::Url { .. } => "url: the rendered URL is not usable: <private>".into(),
            RenderError::HeaderValue { .. } | RenderError::HeaderName { .. } => self.to_string(),
            RenderError::BodyNotJson { .. } => "body: not valid JSON: <private>".into(),
            RenderError::Encode { .. } => "body: cannot encode the call record: <private>".into(),
        }
    }
}

/// Whether a content type is JSON (`application/json`, `…+json`).
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == JSON || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A service's templates, compiled once per configuration load.
pub struct CompiledRequest {
    env: Environment<'static>,
    method: Method,
    header_names: Vec<String>,
    param_names: Vec<String>,
    body_name: Option<&'static str>,
    content_type: String,
    timezone: Tz,
    /// The templates that read any variable (`call`, `vars`, …): only they
    /// are rendered over the whole record.
    reads_call: HashSet<String>,
    /// A URL template that reads no variable, rendered and parsed once.
    constant_url: OnceLock<Result<Url, RenderError>>,
}

/// One call's template context, turned from the record into template
/// values only when a template reads it: a constant URL or body (the
/// common case) does not pay for converting every field of the record.
struct CallContext<'a> {
    /// None when no template reads the call (see
    /// [`CompiledRequest::render_default`]).
    call: Option<(&'a CallRecord, &'a BTreeMap<String, String>)>,
    timezone: Tz,
    full: OnceCell<Value>,
    bare: OnceCell<Value>,
}

impl<'a> CallContext<'a> {
    fn new(record: &'a CallRecord, vars: &'a BTreeMap<String, String>, timezone: Tz) -> Self {
        CallContext {
            call: Some((record, vars)),
            timezone,
            full: OnceCell::new(),
            bare: OnceCell::new(),
        }
    }

    /// The context for a template; one that reads no variable still gets
    /// the time zone (the `local` filter looks it up).
    fn get(&self, reads_call: bool) -> &Value {
        if let (true, Some((record, vars))) = (reads_call, self.call) {
            self.full
                .get_or_init(|| call_context(record, vars, self.timezone))
        } else {
            self.bare
                .get_or_init(|| Value::from_iter([(TIMEZONE, self.timezone.name())]))
        }
    }
}

impl std::fmt::Debug for CompiledRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRequest")
            .field("method", &self.method)
            .field("headers", &self.header_names)
            .field("params", &self.param_names)
            .finish_non_exhaustive()
    }
}

impl CompiledRequest {
    /// Compiles every template of `spec`; the error names the first part
    /// that does not compile.
    pub fn compile(spec: &RequestSpec) -> Result<CompiledRequest, RenderError> {
        let mut env = environment();
        let add = |env: &mut Environment<'static>, name: String, part: String, source: &str| {
            env.add_template_owned(name, source.to_string())
                .map_err(|e| RenderError::Compile {
                    part,
                    message: e.to_string(),
                })
        };
        add(
            &mut env,
            "url".into(),
            "url".into(),
            &leading_value_as_base(&spec.url),
        )?;
        let mut header_names = Vec::new();
        for (i, (name, value)) in spec.headers.iter().enumerate() {
            if check_header(name, "") == Err(HeaderProblem::Name) {
                return Err(RenderError::HeaderName {
                    header: name.clone(),
                });
            }
            add(
                &mut env,
                format!("header:{i}"),
                format!("header {name}"),
                value,
            )?;
            header_names.push(name.clone());
        }
        let mut param_names = Vec::new();
        for (i, (name, value)) in spec.params.iter().enumerate() {
            add(
                &mut env,
                format!("param:{i}"),
                format!("param {name}"),
                value,
            )?;
            param_names.push(name.clone());
        }
        let content_type = spec.content_type.clone().unwrap_or_else(|| JSON.into());
        let body_name = match &spec.body {
            Some(body) => {
                let name = if is_json(&content_type) {
                    "body.json"
                } else {
                    "body"
                };
                add(&mut env, name.into(), "body".into(), body)?;
                Some(name)
            }
            None => None,
        };
        let reads_call = env
            .templates()
            .filter(|(_, t)| !t.undeclared_variables(false).is_empty())
            .map(|(name, _)| name.to_string())
            .collect();
        Ok(CompiledRequest {
            env,
            method: spec.method,
            header_names,
            param_names,
            body_name,
            content_type,
            timezone: Tz::UTC,
            reads_call,
            constant_url: OnceLock::new(),
        })
    }

    /// Renders template `name` (`part` names it in an error).
    fn render_one(
        &self,
        ctx: &CallContext<'_>,
        name: &str,
        part: &dyn Fn() -> String,
    ) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx.get(self.reads_call.contains(name))))
            .map_err(|e| RenderError::Template {
                part: part(),
                message: error_chain(&e),
            })
    }

    /// The time zone the templates' `local` filter and `timezone` use.
    pub fn with_timezone(mut self, timezone: Tz) -> Self {
        self.timezone = timezone;
        self
    }

    /// The channel variables the URL template reads (`vars.NAME` → NAME).
    pub fn url_variables(&self) -> Vec<String> {
        let Ok(template) = self.env.get_template("url") else {
            return Vec::new();
        };
        let mut names: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter_map(|n| n.strip_prefix("vars.").map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// Renders only the parameters, raw, in order (a SOAP service's parts,
    /// which the envelope XML-escapes).
    pub fn render_params(
        &self,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, RenderError> {
        self.params_in(&CallContext::new(record, vars, self.timezone))
    }

    fn params_in(&self, ctx: &CallContext<'_>) -> Result<Vec<(String, String)>, RenderError> {
        let mut params = Vec::with_capacity(self.param_names.len());
        for (i, name) in self.param_names.iter().enumerate() {
            let value = self.render_one(ctx, &format!("param:{i}"), &|| format!("param {name}"))?;
            params.push((name.clone(), value));
        }
        Ok(params)
    }

    /// Whether the request is a POST_RAW or PUT with the default body and
    /// no template reads the call: then [`CompiledRequest::render_default`]
    /// renders it from the body alone.
    pub fn sends_only_the_default_body(&self) -> bool {
        matches!(self.method, Method::PostRaw | Method::Put)
            && self.body_name.is_none()
            && self.reads_call.is_empty()
    }

    /// Renders the request for one call.
    pub fn render(
        &self,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
    ) -> Result<RenderedRequest, RenderError> {
        let ctx = CallContext::new(record, vars, self.timezone);
        self.render_in(&ctx, &|| {
            serde_json::to_vec(record).map_err(|e| RenderError::Encode {
                message: e.to_string(),
            })
        })
    }

    /// Renders a request that [`CompiledRequest::sends_only_the_default_body`]
    /// with `body`, the record as JSON, as that body.
    pub fn render_default(&self, body: Vec<u8>) -> Result<RenderedRequest, RenderError> {
        let ctx = CallContext {
            call: None,
            timezone: self.timezone,
            full: OnceCell::new(),
            bare: OnceCell::new(),
        };
        let body = std::cell::Cell::new(Some(body));
        self.render_in(&ctx, &|| Ok(body.take().unwrap_or_default()))
    }

    /// The request over `ctx`, the default body (when it is sent) from
    /// `default_body`.
    fn render_in(
        &self,
        ctx: &CallContext<'_>,
        default_body: &dyn Fn() -> Result<Vec<u8>, RenderError>,
    ) -> Result<RenderedRequest, RenderError> {
        let render = |name: &str, part: &dyn Fn() -> String| self.render_one(ctx, name, part);

        let url_of = || -> Result<Url, RenderError> {
            let url_text = render("url", &|| "url".into())?;
            let url = Url::parse(url_text.trim()).map_err(|e| RenderError::Url {
                reason: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(RenderError::Url {
                    reason: format!("scheme {:?} is not http or https", url.scheme()),
                });
            }
            Ok(url)
        };
        let mut url = match self.reads_call.contains("url") {
            true => url_of()?,
            false => self.constant_url.get_or_init(url_of).clone()?,
        };

        let mut headers = Vec::with_capacity(self.header_names.len());
        for (i, name) in self.header_names.iter().enumerate() {
            let value = render(&format!("header:{i}"), &|| format!("header {name}"))?;
            if check_header(name, &value).is_err() {
                return Err(RenderError::HeaderValue {
                    header: name.clone(),
                });
            }
            headers.push((name.clone(), value));
        }

        let params = self.params_in(ctx)?;

        let raw_body = |this: &Self| -> Result<Body, RenderError> {
            match this.body_name {
                Some(name) => {
                    let text = render(name, &|| "body".into())?;
                    if is_json(&this.content_type) {
                        serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| {
                            RenderError::BodyNotJson {
                                message: e.to_string(),
                            }
                        })?;
                    }
                    Ok(Body {
                        bytes: text.into_bytes(),
                        content_type: this.content_type.clone(),
                    })
                }
                None => Ok(Body {
                    bytes: default_body()?,
                    content_type: JSON.into(),
                }),
            }
        };
        let form = |params: &[(String, String)]| Body {
            bytes: url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish()
                .into_bytes(),
            content_type: "application/x-www-form-urlencoded".into(),
        };
        let append_query = |url: &mut Url, params: &[(String, String)]| {
            if !params.is_empty() {
                url.query_pairs_mut().extend_pairs(params);
            }
        };

        let body = match self.method {
            Method::Post => Some(form(&params)),
            Method::Get => {
                append_query(&mut url, &params);
                None
            }
            Method::PostRaw | Method::Put => {
                append_query(&mut url, &params);
                Some(raw_body(self)?)
            }
            Method::Delete => {
                append_query(&mut url, &params);
                match self.body_name {
                    Some(_) => Some(raw_body(self)?),
                    None => None,
                }
            }
        };
        Ok(RenderedRequest {
            method: http_method(self.method),
            url,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a&b=c\"\r\nX-Evil: 1";

    fn spec(method: Method) -> RequestSpec {
        RequestSpec {
            method,
            url: "https://example.com/calls/{{ call.call_id }}".into(),
            headers: vec![],
            params: vec![],
            body: None,
            content_type: None,
        }
    }

    fn hostile_record() -> CallRecord {
        let mut r = CallRecord::sample();
        r.caller_name = Some(HOSTILE.into());
        r
    }

    fn vars() -> BTreeMap<String, String> {
        [("ivr_choice".to_string(), "2 & 3".to_string())].into()
    }

    fn render(spec: RequestSpec, record: &CallRecord) -> Result<RenderedRequest, RenderError> {
        CompiledRequest::compile(&spec)?.render(record, &vars())
    }

    #[test]
    fn url_values_are_percent_encoded_and_get_params_go_into_the_query() {
        let mut s = spec(Method::Get);
        s.url = "https://example.com/c/{{ call.caller_name }}?x={{ vars.ivr_choice }}".into();
        s.params = vec![
            ("name".into(), "{{ call.caller_name }}".into()),
            ("status".into(), "{{ call.status }}".into()),
        ];
        let r = render(s, &hostile_record()).unwrap();
        assert_eq!(r.method, reqwest::Method::GET);
        assert_eq!(r.url.host_str(), Some("example.com"));
        assert_eq!(r.url.path(), "/c/a%26b%3Dc%22%0D%0AX-Evil%3A%201");
        let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("x".into(), "2 & 3".into()),
                ("name".into(), HOSTILE.into()),
                ("status".into(), "completed".into()),
            ]
        );
        assert!(r.body.is_none());
    }

    #[test]
    fn urlencode_is_not_encoded_twice() {
        let mut s = spec(Method::Get);
        s.url = "https://x.example/r/{{ call.recordings[0].path|urlencode }}".into();
        let r = render(s, &CallRecord::sample()).unwrap();
        assert_eq!(
            r.url.path(),
            "/r/%2Fvar%2Flib%2Ffreeswitch%2Frecordings%2Fdd4e0193.wav"
        );
    }

    #[test]
    fn safe_marks_a_url_value_verbatim() {
        let mut s = spec(Method::Get);
        s.url = "{{ vars.base|safe }}/hook".into();
        let vars = [("base".to_string(), "https://h.example/x".to_string())].into();
        let r = CompiledRequest::compile(&s)
            .unwrap()
            .render(&CallRecord::sample(), &vars)
            .unwrap();
        assert_eq!(r.url.as_str(), "https://h.example/x/hook");
    }

    #[test]
    fn a_leading_value_is_the_urls_base_and_needs_no_safe() {
        let vars: BTreeMap<String, String> = [
            ("crm_url".to_string(), "https://crm.example/x".to_string()),
            ("id".to_string(), "a/b?c".to_string()),
        ]
        .into();
        let url = |template: &str, vars: &BTreeMap<String, String>| {
            let mut s = spec(Method::Get);
            s.url = template.into();
            CompiledRequest::compile(&s)
                .unwrap()
                .render(&CallRecord::sample(), vars)
                .map(|r| r.url.to_string())
        };
        // Plain: the base as is, a later value still one component.
        assert_eq!(
            url("{{ vars.crm_url }}/calls/{{ vars.id }}", &vars).unwrap(),
            "https://crm.example/x/calls/a%2Fb%3Fc"
        );
        assert_eq!(
            url("  {{- vars.crm_url -}} /calls", &vars).unwrap(),
            "https://crm.example/x/calls"
        );
        // The stated fallback, and the old idiom, still work.
        let none = BTreeMap::new();
        let fallback = "{{ vars.crm_url or \"https://default.example\" }}/calls";
        assert_eq!(
            url(fallback, &none).unwrap(),
            "https://default.example/calls"
        );
        assert_eq!(url(fallback, &vars).unwrap(), "https://crm.example/x/calls");
        assert_eq!(
            url("{{ (vars.crm_url or 'https://d.example')|safe }}/c", &none).unwrap(),
            "https://d.example/c"
        );
        // No value and no fallback: an error saying so.
        let err = url("{{ vars.crm_url }}/calls", &none).unwrap_err();
        assert!(err.to_string().starts_with("url: template failed"), "{err}");
        assert!(err.to_string().contains("empty for this call"), "{err}");
        // Only the leading value: the same value later is a component.
        assert_eq!(
            url("https://h.example/{{ vars.crm_url }}", &vars).unwrap(),
            "https://h.example/https%3A%2F%2Fcrm.example%2Fx"
        );
        assert_eq!(
            leading_value_as_base("{{ '}}' }}/x"),
            "{{ '}}' }}/x",
            "a }} inside a string is left alone"
        );
        let mut s = spec(Method::Get);
        s.url = "{{ vars.crm_url }}/c?x={{ vars.id }}&y={{ call.to }}".into();
        assert_eq!(
            CompiledRequest::compile(&s).unwrap().url_variables(),
            ["crm_url", "id"]
        );
    }

    #[test]
    fn the_time_zone_reaches_the_templates() {
        let mut s = spec(Method::PostRaw);
        s.body = Some(r#"{"t": {{ call.started_at|local }}, "z": {{ timezone }}}"#.into());
        let request = CompiledRequest::compile(&s)
            .unwrap()
            .with_timezone("Asia/Kolkata".parse().unwrap())
            .render(&CallRecord::sample(), &vars())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&request.body.unwrap().bytes).unwrap();
        assert_eq!(v["t"], "2026-11-24T12:15:35+05:30");
        assert_eq!(v["z"], "Asia/Kolkata");
    }

    /// A template that reads no variable is rendered without the record's
    /// values, but still in the application's time zone, and beside
    /// templates that do read the record.
    #[test]
    fn constant_templates_render_beside_ones_that_read_the_call() {
        let mut s = spec(Method::PostRaw);
        s.url = "https://example.com/fixed".into();
        s.headers = vec![
            ("X-Fixed".into(), "v1".into()),
            ("X-Call".into(), "{{ call.call_id }}".into()),
        ];
        s.params = vec![("at".into(), r#"{{ "2026-11-24T06:45:35Z"|local }}"#.into())];
        s.body = Some(r#"{"t": {{ "2026-11-24T06:45:35Z"|local }}}"#.into());
        let compiled = CompiledRequest::compile(&s)
            .unwrap()
            .with_timezone("Asia/Kolkata".parse().unwrap());
        let record = CallRecord::sample();
        let request = compiled.render(&record, &vars()).unwrap();
        assert_eq!(
            request.url.as_str(),
            "https://example.com/fixed?at=2026-11-24T12%3A15%3A35%2B05%3A30"
        );
        assert_eq!(
            request.headers,
            [
                ("X-Fixed".to_string(), "v1".to_string()),
                ("X-Call".to_string(), record.call_id.clone())
            ]
        );
        let v: serde_json::Value = serde_json::from_slice(&request.body.unwrap().bytes).unwrap();
        assert_eq!(v["t"], "2026-11-24T12:15:35+05:30");
    }

    #[test]
    fn post_params_are_form_encoded() {
        let mut s = spec(Method::Post);
        s.params = vec![
            ("caller".into(), "{{ call.caller_name }}".into()),
            ("answered".into(), "{{ call.answered_at }}".into()),
            ("amd".into(), "{{ call.amd_result }}".into()),
        ];
        let r = render(s, &hostile_record()).unwrap();
        let body = r.body.unwrap();
        assert_eq!(body.content_type, "application/x-www-form-urlencoded");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body.bytes)
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("caller".into(), HOSTILE.into()),
                ("answered".into(), "2026-11-24T06:45:36Z".into()),
                // None renders empty, not "none".
                ("amd".into(), String::new()),
            ]
        );
    }

    #[test]
    fn the_default_raw_body_is_the_compact_record() {
        let record = hostile_record();
        let r = render(spec(Method::PostRaw), &record).unwrap();
        let body = r.body.unwrap();
        assert_eq!(body.content_type, "application/json");
        assert_eq!(body.bytes, serde_json::to_vec(&record).unwrap());
        let back: CallRecord = serde_json::from_slice(&body.bytes).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn json_body_templates_write_json_values() {
        let mut s = spec(Method::PostRaw);
        s.body = Some(
            r#"{"name": {{ call.caller_name }}, "n": {{ call.caller_name|tojson }}, "amd": {{ call.amd_result }}, "t": {{ call.talk_time_seconds }}, "v": {{ vars.ivr_choice }}}"#
                .into(),
        );
        let r = render(s, &hostile_record()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body.unwrap().bytes).unwrap();
        assert_eq!(v["name"], HOSTILE);
        assert_eq!(v["n"], HOSTILE);
        assert_eq!(v["amd"], serde_json::Value::Null);
        assert_eq!(v["t"], 2);
        assert_eq!(v["v"], "2 & 3");
        assert_eq!(v.as_object().unwrap().len(), 5);
    }

    #[test]
    fn a_quoted_json_value_is_refused_not_sent_broken() {
        let mut s = spec(Method::PostRaw);
        s.body = Some(r#"{"name": "{{ call.caller_name }}"}"#.into());
        let err = render(s, &hostile_record()).unwrap_err();
        assert!(matches!(err, RenderError::BodyNotJson { .. }), "{err}");
        assert!(err.to_string().contains("tojson"));
    }

    #[test]
    fn other_content_types_are_rendered_verbatim() {
        let mut s = spec(Method::PostRaw);
        s.body = Some("caller={{ call.from }}".into());
        s.content_type = Some("text/plain; charset=utf-8".into());
        let body = render(s, &CallRecord::sample()).unwrap().body.unwrap();
        assert_eq!(body.bytes, b"caller=+15551230001");
        assert_eq!(body.content_type, "text/plain; charset=utf-8");
        assert!(is_json("application/vnd.api+json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/json-ish"));
    }

    #[test]
    fn a_header_with_cr_or_lf_is_refused_by_name() {
        let mut s = spec(Method::Get);
        s.headers = vec![
            ("X-Call".into(), "{{ call.call_id }}".into()),
            ("X-Caller".into(), "{{ call.caller_name }}".into()),
        ];
        let ok = render(s.clone(), &CallRecord::sample()).unwrap();
        assert_eq!(
            ok.headers,
            vec![
                (
                    "X-Call".to_string(),
                    "dd4e0193-b8d0-47f7-9fb2-59d186ed06e1".to_string()
                ),
                ("X-Caller".to_string(), "Sample Caller".to_string()),
            ]
        );
        let err = render(s, &hostile_record()).unwrap_err();
        assert_eq!(
            err,
            RenderError::HeaderValue {
                header: "X-Caller".into()
            }
        );
        assert!(!err.to_string().contains("Evil"));
    }

    #[test]
    fn put_and_delete_carry_params_or_body_as_configured() {
        let mut s = spec(Method::Put);
        s.params = vec![("s".into(), "{{ call.status }}".into())];
        let r = render(s.clone(), &CallRecord::sample()).unwrap();
        assert_eq!(r.method, reqwest::Method::PUT);
        assert_eq!(r.url.query(), Some("s=completed"));
        // No body template: the record.
        let body = r.body.unwrap();
        assert_eq!(
            body.bytes,
            serde_json::to_vec(&CallRecord::sample()).unwrap()
        );
        s.body = Some("{{ call.status }}".into());
        let r = render(s.clone(), &CallRecord::sample()).unwrap();
        assert_eq!(r.body.unwrap().bytes, b"\"completed\"");

        s.method = Method::Delete;
        let r = render(s.clone(), &CallRecord::sample()).unwrap();
        assert_eq!(r.method, reqwest::Method::DELETE);
        assert_eq!(r.url.query(), Some("s=completed"));
        assert_eq!(r.body.unwrap().bytes, b"\"completed\"");
        s.body = None;
        assert!(render(s, &CallRecord::sample()).unwrap().body.is_none());

        let mut s = spec(Method::PostRaw);
        s.params = vec![("source".into(), "pbx".into())];
        let r = render(s, &CallRecord::sample()).unwrap();
        assert_eq!(r.url.query(), Some("source=pbx"));
        assert!(r.body.is_some());
    }

    #[test]
    fn template_failures_are_errors_naming_the_part() {
        let mut s = spec(Method::Get);
        s.url = "https://x/{{ call.nothing.deeper }}".into();
        let err = render(s, &CallRecord::sample()).unwrap_err();
        assert!(err.to_string().starts_with("url: template failed"), "{err}");

        let mut s = spec(Method::Get);
        s.params = vec![("p".into(), "{% if %}".into())];
        let err = CompiledRequest::compile(&s).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("param p: template does not compile"),
            "{err}"
        );
        assert_eq!(err.redacted(), "param p: template failed: <private>");

        let mut s = spec(Method::Get);
        s.url = "{{ call.caller_name }}".into();
        assert!(matches!(
            render(s, &CallRecord::sample()),
            Err(RenderError::Url { .. })
        ));
        let mut s = spec(Method::Get);
        s.url = "file:///etc/passwd".into();
        assert!(matches!(
            render(s, &CallRecord::sample()),
            Err(RenderError::Url { .. })
        ));
        let mut s = spec(Method::Get);
        s.headers = vec![("Bad Name".into(), "x".into())];
        assert!(matches!(
            CompiledRequest::compile(&s),
            Err(RenderError::HeaderName { .. })
        ));
    }
}
