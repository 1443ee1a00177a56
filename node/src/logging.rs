//! Logging set-up: text lines by default; for `netsettle node` with `[log] format =
//! "json"`, one JSON object per line (tracing-subscriber's JSON format) that also names
//! the node, its channel and the role that logged, so a log collector can tell a
//! consortium's nodes and roles apart without parsing messages. Event fields, such as
//! `tx_id` and `number` (a block number), stay under `fields`.

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::runtime::config::{LogFormat, LogSettings};

/// Installs the global subscriber: `NETSETTLE_LOG` or `default_filter`, to stderr, in
/// the format `settings` names.
pub fn init(default_filter: &str, settings: LogSettings) {
    let filter =
        EnvFilter::try_from_env("NETSETTLE_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .event_format(JsonLines {
                node: settings.name,
                channel: settings.channel.name,
                inner: tracing_subscriber::fmt::format().json(),
            })
            .init(),
    }
}

/// tracing-subscriber's JSON line with `node`, `role` and `channel` first.
struct JsonLines {
    node: String,
    channel: String,
    inner: Format<Json>,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let Some(rest) = line.strip_prefix('{') else {
            return writer.write_str(&line);
        };
        let role = role_of(event.metadata().target());
        write!(
            writer,
            "{{\"node\":{},\"role\":\"{role}\",\"channel\":{},",
            json_string(&self.node),
            json_string(&self.channel)
        )?;
        writer.write_str(rest)
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The role an event belongs to, from the module that logged it: each role's library
/// crate and its wiring file in `node/src/runtime/`. Anything else is the node's own.
pub fn role_of(target: &str) -> &'static str {
    const ROLES: [(&[&str], &str); 7] = [
        (
            &["netsettle_orderer", "netsettle::runtime::orderer", "raft"],
            "orderer",
        ),
        (&["netsettle_peer", "netsettle::runtime::peer"], "peer"),
        (
            &["netsettle_gateway::notices", "netsettle::runtime::notices"],
            "notices",
        ),
        (
            &["netsettle_gateway", "netsettle::runtime::gateway"],
            "gateway",
        ),
        (
            &[
                "netsettle_net",
                "netsettle::runtime::network",
                "netsettle::runtime::trust",
                "libp2p",
            ],
            "network",
        ),
        (&["netsettle_ca", "netsettle::runtime::ca"], "ca"),
        (&["netsettle::runtime::ops"], "operations"),
    ];
    ROLES
        .iter()
        .find(|(prefixes, _)| prefixes.iter().any(|prefix| target.starts_with(prefix)))
        .map_or("node", |(_, role)| role)
}

#[cfg(test)]
mod tests {
    use super::role_of;

    #[test]
    fn roles_come_from_the_logging_module() {
        assert_eq!(role_of("netsettle_peer::service"), "peer");
        assert_eq!(role_of("netsettle::runtime::orderer"), "orderer");
        assert_eq!(role_of("netsettle_gateway::notices::notifier"), "notices");
        assert_eq!(role_of("netsettle_gateway::server"), "gateway");
        assert_eq!(role_of("netsettle::runtime"), "node");
    }
}
