//! Layered configuration: built-in defaults, then an optional TOML file named by
//! `SWITCHYARD_CONFIG`, then `SWITCHYARD__SECTION__KEY` environment variables.
//! Unknown keys are refused so a typo never silently falls back to a default.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything any Switchyard process may need; each process reads the sections it uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub s3: S3Settings,
    pub api: ApiSettings,
    pub scheduler: SchedulerSettings,
    pub worker: WorkerSettings,
    pub telemetry: TelemetrySettings,
    pub secrets: SecretsSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: usize,
    /// How long a request waits for a pooled connection before it answers 503.
    pub pool_timeout_ms: u64,
    /// Server-side cap on any one statement, so a runaway query cannot pin a connection.
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    /// Prepended to every key and channel, so several deployments (or tests) share a server.
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    #[serde(serialize_with = "serialize_secret")]
    pub secret_key: SecretString,
    /// Local S3 servers want path-style URLs (`endpoint/bucket/key`).
    pub force_path_style: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub bind: String,
    /// The externally visible base URL, used in links the api hands out.
    pub public_url: String,
    pub max_body_bytes: usize,
    /// Seconds between SSE heartbeat comments, so proxies keep idle streams open.
    pub sse_heartbeat_secs: u64,
}

/// Where the scheduler gets workers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityBackend {
    /// Worker processes on this machine (the embedded default).
    Local,
    /// No capacity management: workers are started by someone else.
    External,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    pub tick_ms: u64,
    /// Most attempts moved from queued to scheduled in one tick.
    pub batch_size: i64,
    pub backend: CapacityBackend,
    /// Worker processes the local backend keeps alive.
    pub local_workers: usize,
    /// The worker binary the local backend starts; defaults to `switchyard-worker` beside
    /// the running executable.
    pub worker_bin: Option<PathBuf>,
    /// A scheduled attempt whose queue entry sat unclaimed this long is delivered again.
    pub redeliver_after_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Bare repository caches and worktrees live below this folder.
    pub data_dir: PathBuf,
    /// Names this worker in leases; defaults to host name and process id.
    pub id: Option<String>,
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    pub limits: ExecutionLimits,
    /// Log entries are shipped to the object store in segments of at most this many
    /// entries, or after `segment_flush_ms`, whichever comes first.
    pub segment_max_entries: usize,
    pub segment_flush_ms: u64,
    /// The diff is recomputed at most this often while an executor runs.
    pub diff_interval_ms: u64,
    /// Exit after this many attempts (0 = never); used by one-shot pods.
    pub max_attempts: u64,
    /// Replaces the program an agent is started with (executor name → argv prefix), for
    /// a local install or the fake agents of the tests; the arguments stay the real tool's.
    #[serde(default)]
    pub agent_commands: std::collections::HashMap<String, Vec<String>>,
    /// How long a supervised tool call waits for a decision before it is denied.
    pub approval_timeout_secs: u64,
}

/// Resource limits applied to every executor process group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionLimits {
    pub cpu_seconds: u64,
    pub memory_mb: u64,
    pub open_files: u64,
    pub processes: u64,
    pub wall_clock_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Compact,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is unset.
    pub filter: String,
    /// OTLP/HTTP endpoint; falls back to `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
}

/// Keys that seal org secrets at rest (AES-256-GCM; see `crate::secrets`).
///
/// Each key is 32 random bytes, base64-encoded (`openssl rand -base64 32`), under a key
/// id that is stored beside every secret it sealed. To rotate: add the new key, point
/// `active_key_id` at it (new writes use it; older secrets still open with their own
/// key), re-seal the old rows, then drop the old key. From the environment:
/// `SWITCHYARD__SECRETS__KEYS__<ID>=<base64>` (the id arrives lower-cased) and
/// `SWITCHYARD__SECRETS__ACTIVE_KEY_ID=<id>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// The key new secrets are sealed with; may be left out when exactly one key is set.
    pub active_key_id: Option<String>,
    /// Key id → base64 of 32 bytes. (An empty map layers as nothing: hence the default.)
    #[serde(default, serialize_with = "serialize_secret_map")]
    pub keys: BTreeMap<String, SecretString>,
    /// DEVELOPMENT ONLY. When no key is configured and this is true, secrets are sealed
    /// with a fixed key compiled into the binary (id `dev`), so the embedded default works
    /// without setup. That key is public: every deployed configuration sets this to false.
    pub allow_dev_key: bool,
}

/// Settings are serialized only to layer the defaults under file and environment, so the
/// secret has to round-trip; `Debug` still redacts it.
fn serialize_secret<S: serde::Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    s.serialize_str(v.expose_secret())
}

/// As [`serialize_secret`], for a map of secrets.
fn serialize_secret_map<S: serde::Serializer>(
    v: &BTreeMap<String, SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(v.len()))?;
    for (id, key) in v {
        map.serialize_entry(id, key.expose_secret())?;
    }
    map.end()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database: DatabaseSettings {
                url: "postgres://postgres@127.0.0.1:5432/switchyard".into(),
                pool_size: 16,
                pool_timeout_ms: 5_000,
                statement_timeout_ms: 30_000,
            },
            redis: RedisSettings {
                url: "redis://127.0.0.1:6379/".into(),
                prefix: "sy".into(),
            },
            s3: S3Settings {
                endpoint: None,
                region: "us-east-1".into(),
                bucket: "switchyard".into(),
                access_key: "switchyard".into(),
                secret_key: SecretString::from("switchyard-secret"),
                force_path_style: true,
            },
            api: ApiSettings {
                bind: "127.0.0.1:8080".into(),
                public_url: "http://127.0.0.1:8080".into(),
                max_body_bytes: 1024 * 1024,
                sse_heartbeat_secs: 15,
            },
            scheduler: SchedulerSettings {
                // One indexed query when idle: cheap, and it bounds how long a new attempt waits.
                tick_ms: 50,
                batch_size: 500,
                backend: CapacityBackend::Local,
                local_workers: 2,
                worker_bin: None,
                redeliver_after_ms: 30_000,
            },
            worker: WorkerSettings {
                data_dir: PathBuf::from(".dev/worker"),
                id: None,
                lease_ms: 30_000,
                heartbeat_ms: 5_000,
                limits: ExecutionLimits {
                    cpu_seconds: 3_600,
                    memory_mb: 4_096,
                    open_files: 4_096,
                    processes: 512,
                    wall_clock_secs: 3_600,
                },
                segment_max_entries: 2_000,
                segment_flush_ms: 500,
                diff_interval_ms: 1_000,
                max_attempts: 0,
                agent_commands: std::collections::HashMap::new(),
                approval_timeout_secs: 600,
            },
            telemetry: TelemetrySettings {
                format: LogFormat::Compact,
                filter: "info".into(),
                otlp_endpoint: None,
            },
            secrets: SecretsSettings {
                active_key_id: None,
                keys: BTreeMap::new(),
                allow_dev_key: true,
            },
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] config::ConfigError);

impl Settings {
    /// Loads defaults, then `SWITCHYARD_CONFIG` (a TOML file) if set, then the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let file = std::env::var("SWITCHYARD_CONFIG").ok();
        Self::load_from(file.as_deref())
    }

    /// As [`Settings::load`], with the file named explicitly.
    pub fn load_from(file: Option<&str>) -> Result<Settings, ConfigError> {
        let defaults = config::Config::try_from(&Settings::default())?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(path) = file {
            builder = builder.add_source(config::File::with_name(path).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SWITCHYARD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if settings.telemetry.otlp_endpoint.is_none() {
            settings.telemetry.otlp_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_keys_load_from_a_file_and_default_to_the_dev_key_flag() {
        let defaults = Settings::default();
        assert!(defaults.secrets.keys.is_empty());
        assert!(defaults.secrets.allow_dev_key);

        let dir = std::env::temp_dir().join(format!("sy-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("switchyard.toml");
        std::fs::write(
            &file,
            "[secrets]\nactive_key_id = \"k2\"\nallow_dev_key = false\n\
             [secrets.keys]\nk1 = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n\
             k2 = \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\"\n",
        )
        .expect("write config");
        let loaded = Settings::load_from(file.to_str()).expect("load");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(loaded.secrets.active_key_id.as_deref(), Some("k2"));
        assert!(!loaded.secrets.allow_dev_key);
        let ids: Vec<&str> = loaded.secrets.keys.keys().map(String::as_str).collect();
        assert_eq!(ids, ["k1", "k2"]);
        assert!(
            loaded.secrets.keys["k1"]
                .expose_secret()
                .starts_with("AQEB")
        );
        // Key material never shows in the debug form.
        assert!(!format!("{loaded:?}").contains("AQEB"));
    }

    #[test]
    fn defaults_load_without_a_file_or_environment() {
        // Every default must survive the layering (an empty map serializes to nothing).
        let loaded = Settings::load_from(None).expect("defaults load");
        assert_eq!(loaded.database.url, Settings::default().database.url);
    }
}
