//! The finishing touches of `GET /api/openapi.json` that hold for every operation, so no handler
//! repeats them: who may call it (`auth::access::document`) and the errors the layers in front
//! of every handler can answer.

use std::collections::BTreeMap;

use rigel_common::agent::MAX_AGENT_LABEL_LEN;
use rigel_common::block::MAX_STORAGE_KEY_LEN;
use rigel_common::filter::{MAX_ANY, MAX_LIMIT, MAX_TAGS, MAX_TAG_CHARS};
use rigel_common::log::{MAX_LOG_BATCH, MAX_LOG_LEVEL};
use rigel_common::state::MAX_STATE_NAME_CHARS;
use rigel_common::validation::MAX_NAME_LEN;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{
    ArrayBuilder, Content, ObjectBuilder, OneOfBuilder, OpenApi, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};
use utoipa::Number;

use super::flow_runs::MAX_IDEMPOTENCY_KEY_CHARS;
use super::work_queues::{MAX_CLAIM_WAIT_SECONDS, MAX_PREFETCH_SECONDS};
use crate::auth::access::{self, Access, AccessTable};

/// An error every operation of some kind can answer, whatever its handler does.
struct Common {
    status: &'static str,
    /// The name of the shared response in `components.responses`.
    name: &'static str,
    description: &'static str,
    applies: fn(&Shape) -> bool,
}

/// What a layer or an extractor needs to know about an operation to tell whether it can fail.
struct Shape {
    /// A JSON body (`ApiJson`): malformed (400), too deep (400), not sent as JSON (415).
    json_body: bool,
    /// Any body: too large (413).
    body: bool,
    /// Path parameters (`ApiPath`): unparsable (422), undecodable (400), no such object (404).
    path: bool,
    /// Query or header parameters: unparsable or unknown (422).
    query: bool,
    /// Needs a key: none or unknown (401), too many unknown keys from the address (429).
    keyed: bool,
}

const COMMON: &[Common] = &[
    Common {
        status: "400",
        name: "BadRequest",
        description: "The request can't be read: malformed JSON, a body nested too deep, an \
                      undecodable path.",
        applies: |s| s.json_body || s.path,
    },
    Common {
        status: "401",
        name: "Unauthorized",
        description: "No API key, or one the server does not know (revoked, expired).",
        applies: |s| s.keyed,
    },
    Common {
        status: "403",
        name: "Forbidden",
        description: "The key's role may not call this, or a web page's Origin or a host name \
                      the server does not answer to.",
        applies: |_| true,
    },
    Common {
        status: "404",
        name: "NotFound",
        description: "No object with this id or name.",
        applies: |s| s.path,
    },
    Common {
        status: "413",
        name: "PayloadTooLarge",
        description: "The body is larger than the server accepts (`--max-body-bytes`).",
        applies: |s| s.body,
    },
    Common {
        status: "415",
        name: "UnsupportedMediaType",
        description: "A non-empty body not sent as `Content-Type: application/json`.",
        applies: |s| s.json_body,
    },
    Common {
        status: "422",
        name: "ValidationError",
        description: "A field, parameter or path segment is invalid; `details.field` names it.",
        applies: |s| s.json_body || s.path || s.query,
    },
    Common {
        status: "429",
        name: "TooManyRequests",
        description: "Too many unknown keys from this address; `Retry-After` says when to retry.",
        applies: |s| s.keyed,
    },
    Common {
        status: "503",
        name: "Unavailable",
        description: "The server is overloaded or its database can't be used now; retry later \
                      (`Retry-After` when overloaded).",
        applies: |_| true,
    },
];

/// The served document: `doc` with each operation's security requirement and, where an
/// operation does not say otherwise, the shared error responses that apply to it. A JSON body
/// whose every field is optional is marked optional: `ApiJson` reads no body as `{}`.
pub fn document(doc: OpenApi, table: &AccessTable) -> OpenApi {
    let mut doc = access::document(doc, table);
    let components = doc.components.get_or_insert_with(Default::default);
    for schema in components.schemas.values_mut() {
        unsigned(schema);
    }
    for (schema, property, limit) in LIMITS {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(*schema) {
            if let Some(RefOr::T(field)) = o.properties.get_mut(*property) {
                limit.apply(field);
            }
        }
    }
    let schemas = components.schemas.clone();
    for common in COMMON {
        let error = Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let response = ResponseBuilder::new()
            .description(common.description)
            .content("application/json", error)
            .build();
        components
            .responses
            .insert(common.name.to_string(), RefOr::T(response));
    }
    access::each_operation(&mut doc, |method, path, op| {
        let keyed = table.get(method, path) != Some(Access::Public);
        add_common_errors(op, keyed);
        limit_parameters_and_bodies(method, path, op);
        if let Some(body) = op.request_body.as_mut() {
            if body_may_be_empty(&body.content, &schemas) {
                body.required = Some(Required::False);
                // `null` reads as `{}` too
                if let Some(json) = body.content.get_mut("application/json") {
                    json.schema = json.schema.take().map(|schema| {
                        OneOfBuilder::new()
                            .item(schema)
                            .item(ObjectBuilder::new().schema_type(Type::Null))
                            .into()
                    });
                }
            }
        }
    });
    doc
}

fn add_common_errors(op: &mut Operation, keyed: bool) {
    let located = |at: ParameterIn| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&at))
    };
    let shape = Shape {
        json_body: op
            .request_body
            .as_ref()
            .is_some_and(|b| b.content.keys().any(|t| t.contains("json"))),
        body: op.request_body.is_some(),
        path: located(ParameterIn::Path),
        query: located(ParameterIn::Query) || located(ParameterIn::Header),
        keyed,
    };
    for common in COMMON.iter().filter(|c| (c.applies)(&shape)) {
        op.responses
            .responses
            .entry(common.status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(common.name)));
    }
}

/// Whether `{}` is a valid JSON body: its schema is an object that requires no field.
fn body_may_be_empty(
    content: &BTreeMap<String, Content>,
    schemas: &BTreeMap<String, RefOr<Schema>>,
) -> bool {
    let Some(json) = content.get("application/json") else {
        return false;
    };
    let schema = match &json.schema {
        Some(RefOr::Ref(r)) => r
            .ref_location
            .strip_prefix("#/components/schemas/")
            .and_then(|name| schemas.get(name)),
        other => other.as_ref(),
    };
    matches!(schema, Some(RefOr::T(Schema::Object(o))) if o.required.is_empty())
}

/// A validation rule of the server, as JSON Schema keywords.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// A page size: `validate_limit`.
    Page,
    /// At least 1 (a count's `limit`).
    Positive,
    /// A flow, deployment, queue, block, agent or key name: `validate_name`.
    Name,
    /// A state's or a task run's name: not blank, at most this many characters.
    Text(usize),
    /// Tags: `validate_tags`.
    Tags,
    /// The tags of a filter: as many and as long as tags, any text.
    TagFilter,
    /// Any text of 1 to this many characters.
    Length(usize),
    /// A log level.
    Level,
    /// A `u8`.
    Byte,
    /// Free text without control characters, at most this many characters.
    Label(usize),
    /// Seconds, from 0 to this many.
    Seconds(f64),
    /// `{"any_": [uuid…]}`, or null.
    Ids,
}

/// Not blank, without control characters (`char::is_control`) nor the given characters.
fn text_pattern(forbidden: &str) -> String {
    let allowed = format!("[^{forbidden}\\x00-\\x1f\\x7f-\\x9f]");
    let visible = format!("[^\\s{forbidden}\\x00-\\x1f\\x7f-\\x9f]");
    format!("^{allowed}*{visible}{allowed}*$")
}

impl Limit {
    fn apply(self, schema: &mut Schema) {
        match (self, schema) {
            (Limit::Page, Schema::Object(o)) => {
                o.minimum = Some(1.into());
                o.maximum = Some(MAX_LIMIT.into());
            }
            (Limit::Positive, Schema::Object(o)) => o.minimum = Some(1.into()),
            (Limit::Level, Schema::Object(o)) => o.maximum = Some(MAX_LOG_LEVEL.into()),
            (Limit::Byte, Schema::Object(o)) => o.maximum = Some(u8::MAX.into()),
            (Limit::Label(most), Schema::Object(o)) => {
                o.max_length = Some(most);
                o.pattern = Some("^[^\\x00-\\x1f\\x7f-\\x9f]*$".to_string());
            }
            (Limit::Seconds(most), Schema::Object(o)) => {
                o.minimum = Some(0.into());
                o.maximum = Some(most.into());
            }
            (Limit::Name, Schema::Object(o)) => {
                o.min_length = Some(1);
                o.max_length = Some(MAX_NAME_LEN);
                o.pattern = Some(text_pattern("/%&><"));
            }
            (Limit::Text(most), Schema::Object(o)) => {
                o.min_length = Some(1);
                o.max_length = Some(most);
                o.pattern = Some(text_pattern(""));
            }
            (Limit::Tags, Schema::Array(a)) => {
                a.max_items = Some(MAX_TAGS);
                if let ArrayItems::RefOrSchema(item) = &mut a.items {
                    if let RefOr::T(Schema::Object(o)) = item.as_mut() {
                        o.min_length = Some(1);
                        o.max_length = Some(MAX_TAG_CHARS);
                        o.pattern = Some(text_pattern(""));
                    }
                }
            }
            (Limit::TagFilter, Schema::Array(a)) => {
                a.max_items = Some(MAX_TAGS);
                if let ArrayItems::RefOrSchema(item) = &mut a.items {
                    if let RefOr::T(Schema::Object(o)) = item.as_mut() {
                        o.max_length = Some(MAX_TAG_CHARS);
                    }
                }
            }
            (Limit::Length(most), Schema::Object(o)) => {
                o.min_length = Some(1);
                o.max_length = Some(most);
            }
            (Limit::Ids, schema) => *schema = any_ids(),
            _ => {}
        }
    }
}

/// The `AnyFilter<Uuid>` of a criteria object (utoipa names it like `AnyFilter<String>`).
fn any_ids() -> Schema {
    let uuid = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    let list = ArrayBuilder::new().items(uuid).max_items(Some(MAX_ANY));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property("any_", list)
        .required("any_")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
        .into()
}

/// Where each rule applies: a component schema and one of its properties.
pub const LIMITS: &[(&str, &str, Limit)] = &[
    ("AgentFilter", "limit", Limit::Page),
    ("BlockFilter", "limit", Limit::Page),
    ("DeploymentFilter", "limit", Limit::Page),
    ("FlowFilter", "limit", Limit::Page),
    ("FlowRunFilter", "limit", Limit::Page),
    ("LogFilter", "limit", Limit::Page),
    ("TaskRunFilter", "limit", Limit::Page),
    ("WorkQueueFilter", "limit", Limit::Page),
    ("ClaimRequest", "limit", Limit::Page),
    ("QueueRunsPreview", "limit", Limit::Page),
    ("FlowRunCount", "limit", Limit::Positive),
    ("AgentCreate", "name", Limit::Name),
    ("AgentCreate", "work_queue_name", Limit::Name),
    ("AgentCreate", "hostname", Limit::Label(MAX_AGENT_LABEL_LEN)),
    ("AgentCreate", "version", Limit::Label(MAX_AGENT_LABEL_LEN)),
    ("FlowRunCreate", "name", Limit::Name),
    ("DeploymentRunCreate", "name", Limit::Name),
    (
        "ClaimRequest",
        "prefetch_seconds",
        Limit::Seconds(MAX_PREFETCH_SECONDS),
    ),
    (
        "ClaimRequest",
        "wait_seconds",
        Limit::Seconds(MAX_CLAIM_WAIT_SECONDS),
    ),
    ("LevelFilter", "ge_", Limit::Byte),
    ("ApiKeyCreate", "name", Limit::Name),
    ("BlockCreate", "name", Limit::Name),
    ("DeploymentCreate", "name", Limit::Name),
    ("DeploymentCreate", "flow_name", Limit::Name),
    ("DeploymentCreate", "work_queue_name", Limit::Name),
    ("FlowCreate", "name", Limit::Name),
    ("WorkQueueCreate", "name", Limit::Name),
    ("StateCreate", "name", Limit::Text(MAX_STATE_NAME_CHARS)),
    ("TaskRunCreate", "name", Limit::Text(MAX_NAME_LEN)),
    ("DeploymentCreate", "tags", Limit::Tags),
    ("DeploymentUpdate", "tags", Limit::Tags),
    ("DeploymentRunCreate", "tags", Limit::Tags),
    ("FlowCreate", "tags", Limit::Tags),
    ("FlowRunCreate", "tags", Limit::Tags),
    ("QueueFilter", "tags", Limit::Tags),
    ("AllFilter", "all_", Limit::TagFilter),
    (
        "FlowRunCreate",
        "idempotency_key",
        Limit::Length(MAX_IDEMPOTENCY_KEY_CHARS),
    ),
    (
        "DeploymentRunCreate",
        "idempotency_key",
        Limit::Length(MAX_IDEMPOTENCY_KEY_CHARS),
    ),
    ("LogCreate", "level", Limit::Level),
    ("AgentCriteria", "id", Limit::Ids),
    ("BlockCriteria", "id", Limit::Ids),
    ("DeploymentCriteria", "id", Limit::Ids),
    ("FlowCriteria", "id", Limit::Ids),
    ("FlowRunCriteria", "id", Limit::Ids),
    ("FlowRunCriteria", "flow_id", Limit::Ids),
    ("FlowRunCriteria", "deployment_id", Limit::Ids),
    ("FlowRunCriteria", "work_queue_id", Limit::Ids),
    ("FlowRunCriteria", "agent_id", Limit::Ids),
    ("RunDeploymentCriteria", "id", Limit::Ids),
    ("RunFlowCriteria", "id", Limit::Ids),
    ("WorkQueueCriteria", "id", Limit::Ids),
];

/// The rules on parameters and bodies that have no component schema of their own.
fn limit_parameters_and_bodies(method: &str, path: &str, op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        let Some(RefOr::T(schema)) = p.schema.as_mut() else {
            continue;
        };
        match (path, p.name.as_str(), schema) {
            ("/api/blocks/{id}/data/{key}", "key", Schema::Object(o)) => {
                // 1-128 of `A-Za-z0-9._-`, and not `.` nor `..`
                o.min_length = Some(1);
                o.max_length = Some(MAX_STORAGE_KEY_LEN);
                o.pattern =
                    Some("^([A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*|[.]{3,})$".to_string());
            }
            ("/api/audit", "limit", schema) => Limit::Page.apply(schema),
            ("/api/events", "flow_run_id" | "deployment_id", Schema::Object(o)) => {
                o.format = Some(SchemaFormat::KnownFormat(KnownFormat::Uuid));
            }
            _ => {}
        }
    }
    if (method, path) == ("GET", "/api/events") {
        let ok = op.responses.responses.get_mut("200");
        if let Some(RefOr::T(ok)) = ok {
            if let Some(stream) = ok.content.get_mut("text/event-stream") {
                stream.schema = Some(sse_event().into());
            }
        }
    }
    if (method, path) == ("PUT", "/api/blocks/{id}/data/{key}") {
        // no body stores zero bytes
        if let Some(body) = op.request_body.as_mut() {
            body.required = Some(Required::False);
        }
    }
    if (method, path) == ("POST", "/api/logs/") {
        let body = op
            .request_body
            .as_mut()
            .and_then(|b| b.content.get_mut("application/json"));
        if let Some(Some(RefOr::T(Schema::Array(a)))) = body.map(|c| c.schema.as_mut()) {
            a.min_items = Some(1);
            a.max_items = Some(MAX_LOG_BATCH);
        }
    }
}

/// utoipa writes a `u32` as `int32` with `minimum: 0`, whose range ends at 2^31 - 1, while serde
/// takes up to 2^32 - 1 (and the same for `u64`).
fn unsigned(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            let non_negative = matches!(o.minimum, Some(Number::Int(0) | Number::UInt(0)))
                || matches!(o.minimum, Some(Number::Float(f)) if f == 0.0);
            let most: Option<Number> = match &o.format {
                Some(SchemaFormat::KnownFormat(KnownFormat::Int32)) => Some(u32::MAX.into()),
                Some(SchemaFormat::KnownFormat(KnownFormat::Int64)) => Some(u64::MAX.into()),
                _ => None,
            };
            if let Some(most) = most.filter(|_| non_negative) {
                o.format = None;
                o.maximum = Some(most);
            }
            o.properties.values_mut().for_each(unsigned);
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(item) = &mut a.items {
                unsigned(item);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(unsigned),
        Schema::AllOf(all) => all.items.iter_mut().for_each(unsigned),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(unsigned),
        _ => {}
    }
}

/// One record of `GET /api/events` as a client reads it: `id:`, `event:` (the kind) and `data:`
/// (a JSON text); keep-alive comments are not events.
fn sse_event() -> Schema {
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    ObjectBuilder::new()
        .property(
            "id",
            text("Monotonic; send it back as `Last-Event-ID` to resume."),
        )
        .property(
            "event",
            text("The kind: `ready`, `reset`, `flow_run.state`, `log`…"),
        )
        .property("data", text("The event's JSON payload."))
        .required("id")
        .required("event")
        .required("data")
        .build()
        .into()
}
