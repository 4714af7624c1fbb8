//! Which user field names are ECS fields (kept as they are) and which names the layer itself
//! writes (a user field with one of those names goes under `labels` instead, so no key is ever
//! written twice).

/// ECS field names (ECS 8.11 and the `gen_ai` set) a user field may carry; sorted.
static ECS_FIELDS: &[&str] = &[
    "client.address",
    "client.bytes",
    "client.domain",
    "client.ip",
    "client.port",
    "client.user.id",
    "cloud.account.id",
    "cloud.availability_zone",
    "cloud.instance.id",
    "cloud.provider",
    "cloud.region",
    "container.id",
    "container.image.name",
    "container.name",
    "destination.address",
    "destination.domain",
    "destination.ip",
    "destination.port",
    "error.code",
    "error.id",
    "error.message",
    "error.stack_trace",
    "error.type",
    "event.action",
    "event.category",
    "event.code",
    "event.created",
    "event.duration",
    "event.end",
    "event.id",
    "event.kind",
    "event.module",
    "event.outcome",
    "event.provider",
    "event.reason",
    "event.reference",
    "event.risk_score",
    "event.severity",
    "event.start",
    "event.type",
    "event.url",
    "file.name",
    "file.path",
    "file.size",
    "gen_ai.operation.name",
    "gen_ai.request.max_tokens",
    "gen_ai.request.model",
    "gen_ai.request.temperature",
    "gen_ai.request.top_p",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "host.architecture",
    "host.hostname",
    "host.ip",
    "http.request.body.bytes",
    "http.request.bytes",
    "http.request.id",
    "http.request.method",
    "http.request.mime_type",
    "http.request.referrer",
    "http.response.body.bytes",
    "http.response.bytes",
    "http.response.mime_type",
    "http.response.status_code",
    "http.version",
    "network.bytes",
    "network.protocol",
    "network.transport",
    "network.type",
    "orchestrator.namespace",
    "process.exit_code",
    "process.name",
    "process.thread.id",
    "process.thread.name",
    "process.title",
    "server.address",
    "server.domain",
    "server.ip",
    "server.port",
    "service.type",
    "source.address",
    "source.ip",
    "source.port",
    "tags",
    "transaction.id",
    "url.domain",
    "url.extension",
    "url.fragment",
    "url.full",
    "url.original",
    "url.path",
    "url.port",
    "url.query",
    "url.scheme",
    "user.domain",
    "user.email",
    "user.full_name",
    "user.hash",
    "user.id",
    "user.name",
    "user.roles",
    "user_agent.name",
    "user_agent.original",
    "user_agent.version",
];

/// Names the layer writes itself; sorted.
static RESERVED: &[&str] = &[
    "@timestamp",
    "ecs.version",
    "event.dataset",
    "event.hash",
    "event.sequence",
    "host.name",
    "labels",
    "log.level",
    "log.logger",
    "log.origin.file.line",
    "log.origin.file.name",
    "log.origin.function",
    "process.pid",
    "service.environment",
    "service.name",
    "service.node.name",
    "service.version",
];

/// Whether `key` is a known ECS field name.
pub(crate) fn is_ecs(key: &str) -> bool {
    ECS_FIELDS.binary_search(&key).is_ok()
}

/// Whether the layer writes `key` itself.
pub(crate) fn is_reserved(key: &str) -> bool {
    RESERVED.binary_search(&key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_disjoint() {
        assert!(ECS_FIELDS.windows(2).all(|w| w[0] < w[1]));
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(ECS_FIELDS.iter().all(|f| !is_reserved(f)));
    }

    #[test]
    fn no_ecs_field_is_a_prefix_of_another() {
        for a in ECS_FIELDS.iter().chain(RESERVED) {
            for b in ECS_FIELDS.iter().chain(RESERVED) {
                assert!(!b.starts_with(&format!("{a}.")), "{a} / {b}");
            }
        }
    }
}
