//! `rigel api-key …`: keys for the API, each with a role.

use std::io::IsTerminal;

use chrono::Utc;
use clap::Subcommand;
use rigel_common::api_key::{ApiKey, ApiKeyCreate, ApiKeyCreated, Role};
use rigel_common::client::{ClientError, RigelClient};
use rigel_common::duration::parse_seconds;
use rigel_server::{AppState, ServerConfig};
use uuid::Uuid;

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{config, say};

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key and print it (it is shown this once). Without a running server on this
    /// machine (or with --offline) the key is written to the database directly: that is how
    /// the first admin key is made.
    Create {
        name: String,
        /// monitor, agent, operator, deployer or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// For agent keys: a work queue the key may register for and claim from (repeatable;
        /// none means any queue).
        #[arg(short = 'q', long = "queue")]
        queues: Vec<String>,
        /// Lifetime of the key: `90d`, `12h`, `PT30M`… (default: no expiry).
        #[arg(long)]
        expires: Option<String>,
        /// Write to the database of RIGEL_HOME instead of asking the server.
        #[arg(long)]
        offline: bool,
    },
    /// List keys (never the keys themselves).
    Ls {
        /// Read the database of RIGEL_HOME instead of asking the server.
        #[arg(long)]
        offline: bool,
    },
    /// Revoke a key by name or id: it stops working at once.
    Revoke {
        key: String,
        /// Write to the database of RIGEL_HOME instead of asking the server.
        #[arg(long)]
        offline: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// Where key commands go: the server's API, or the database under RIGEL_HOME.
enum Target {
    Api(RigelClient),
    Database(AppState),
}

impl Target {
    async fn open(client: &RigelClient, offline: bool) -> CliResult<Self> {
        if offline || !server_answers(client).await {
            let database = config::PrivateDatabase::open()?;
            let url = &database.url;
            let mut config = ServerConfig::new(url);
            config.database.created_empty = database.created();
            let state = AppState::open(config).await.map_err(|e| {
                database.forget_unused();
                CliError::failed(format!("cannot open the database {url}: {e}"))
            })?;
            if !offline {
                say!(
                    "No server answers at {}; using the database {url} directly.",
                    client.base_url()
                );
            }
            return Ok(Target::Database(state));
        }
        Ok(Target::Api(client.clone()))
    }

    async fn create(&self, body: &ApiKeyCreate) -> CliResult<ApiKeyCreated> {
        match self {
            Target::Api(c) => Ok(c.create_api_key(body).await?),
            Target::Database(s) => {
                Ok(
                    rigel_server::routes::api_keys::create(s, body, Some("(offline)"))
                        .await
                        .map_err(local_error)?,
                )
            }
        }
    }

    async fn list(&self) -> CliResult<Vec<ApiKey>> {
        match self {
            Target::Api(c) => Ok(c.list_api_keys().await?),
            Target::Database(s) => Ok(rigel_server::db::api_keys::list(&s.db)
                .await
                .map_err(local_error)?),
        }
    }

    async fn revoke(&self, id: Uuid) -> CliResult<ApiKey> {
        match self {
            Target::Api(c) => Ok(c.revoke_api_key(id).await?),
            Target::Database(s) => Ok(rigel_server::db::api_keys::revoke(&s.db, id, Utc::now())
                .await
                .map_err(local_error)?),
        }
    }

    async fn close(self) {
        if let Target::Database(s) = self {
            s.db.close().await;
        }
    }
}

/// Whether a server answers at the client's address. Only a server on this machine (the
/// default address or a loopback one) is ever replaced by its database: a remote server that is
/// down is an error, not a reason to write a local file.
async fn server_answers(client: &RigelClient) -> bool {
    match client.health().await {
        Ok(_) => true,
        Err(ClientError::Unreachable { .. }) => !is_local(client.base_url()),
        Err(_) => true,
    }
}

fn is_local(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let name = host
        .rsplit_once(':')
        .map_or(host, |(n, _)| n)
        .trim_start_matches('[')
        .trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn local_error(e: rigel_server::error::ApiError) -> CliError {
    use rigel_server::error::ApiError;
    match e {
        ApiError::Invalid(f) => CliError::invalid(format!("{}: {}", f.field, f.message)),
        ApiError::Conflict(m) => CliError::invalid(m),
        ApiError::NotFound(m) => CliError::not_found(m),
        other => CliError::failed(format!("{other}: {other:?}")),
    }
}

pub async fn run(client: &RigelClient, cmd: ApiKeyCommand, format: Format) -> CliResult {
    match cmd {
        ApiKeyCommand::Create {
            name,
            role,
            queues,
            expires,
            offline,
        } => {
            let expires_in_seconds = expires
                .as_deref()
                .map(|e| parse_seconds(e).map_err(|m| CliError::invalid(format!("--expires: {m}"))))
                .transpose()?;
            let body = ApiKeyCreate {
                name,
                role,
                queues,
                expires_in_seconds,
            };
            body.validate()
                .map_err(|e| CliError::invalid(format!("{}: {}", e.field, e.message)))?;
            let target = Target::open(client, offline).await?;
            let created = target.create(&body).await;
            target.close().await;
            let created = created?;
            if format == Format::Json {
                return output::data(format, &created);
            }
            println!("{}", created.key);
            if std::io::stdout().is_terminal() || std::io::stderr().is_terminal() {
                say!(
                    "Created the {} key '{}'. It is shown this once: keep it in a secret store \
                     and hand it to clients as RIGEL_API_KEY (or --api-key-file). A server that \
                     had no keys requires them from now on.",
                    created.api_key.role,
                    created.api_key.name
                );
            }
            Ok(())
        }
        ApiKeyCommand::Ls { offline } => {
            let target = Target::open(client, offline).await?;
            let keys = target.list().await;
            target.close().await;
            let keys = keys?;
            if format != Format::Table {
                return output::data(format, &keys);
            }
            let now = Utc::now();
            let mut t = Table::new(vec![
                "NAME",
                "ROLE",
                "QUEUES",
                "STATUS",
                "CREATED",
                "EXPIRES",
                "LAST USED",
                "ID",
            ]);
            let time = |t: Option<chrono::DateTime<Utc>>| {
                t.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
            };
            for k in &keys {
                t.row(vec![
                    k.name.clone(),
                    k.role.to_string(),
                    if k.queues.is_empty() {
                        "-".into()
                    } else {
                        k.queues.join(",")
                    },
                    k.status(now).to_string(),
                    time(Some(k.created)),
                    time(k.expires),
                    time(k.last_used),
                    k.id.to_string(),
                ]);
            }
            t.print();
            Ok(())
        }
        ApiKeyCommand::Revoke { key, offline } => {
            let target = Target::open(client, offline).await?;
            let result = revoke(&target, &key).await;
            target.close().await;
            let revoked = result?;
            say!("Revoked the key '{}' ({}).", revoked.name, revoked.id);
            if format != Format::Table {
                output::data(format, &revoked)?;
            }
            Ok(())
        }
    }
}

async fn revoke(target: &Target, wanted: &str) -> CliResult<ApiKey> {
    let keys = target.list().await?;
    let by_id = wanted.parse::<Uuid>().ok();
    let found = keys
        .iter()
        .find(|k| k.revoked.is_none() && (Some(k.id) == by_id || k.name == wanted))
        .or_else(|| keys.iter().find(|k| Some(k.id) == by_id));
    let Some(key) = found else {
        return Err(CliError::not_found(format!(
            "no API key named '{wanted}' (see `rigel api-key ls`)"
        )));
    };
    target.revoke(key.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers_count_as_local() {
        for local in [
            "http://127.0.0.1:4200/api",
            "http://localhost:4200/api",
            "http://[::1]:4200/api",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in ["http://10.0.0.2:4200/api", "https://rigel.example.com/api"] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
