//! `switchyard-api`: serve the API (default), apply migrations, or bootstrap an org.
//!
//! ```text
//! switchyard-api [serve]
//! switchyard-api migrate          # Postgres migrations and the S3 bucket
//! switchyard-api bootstrap-org --slug S --name N [--max-concurrent K]
//! switchyard-api openapi          # the OpenAPI document, for web/'s generated types
//! ```
//! `bootstrap-org` prints only the new token on stdout, so scripts can capture it;
//! `openapi` prints only the document and needs no configuration or running service.

use anyhow::{Context, bail};
use shared::config::Settings;

/// A parsed command line.
#[derive(Debug, PartialEq)]
enum Command {
    Serve,
    Migrate,
    OpenApi,
    BootstrapOrg {
        slug: String,
        name: String,
        max_concurrent: Option<i32>,
        owner: Option<String>,
    },
}

const USAGE: &str = "usage: switchyard-api [serve | migrate | openapi | bootstrap-org --slug S --name N [--max-concurrent K] [--owner LOGIN]]";

fn parse(args: &[String]) -> anyhow::Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Serve);
    };
    match command.as_str() {
        "serve" if rest.is_empty() => Ok(Command::Serve),
        "migrate" if rest.is_empty() => Ok(Command::Migrate),
        "openapi" if rest.is_empty() => Ok(Command::OpenApi),
        "bootstrap-org" => {
            let (mut slug, mut name, mut max_concurrent, mut owner) = (None, None, None, None);
            let mut it = rest.iter();
            while let Some(flag) = it.next() {
                let value = it
                    .next()
                    .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
                match flag.as_str() {
                    "--slug" => slug = Some(value.clone()),
                    "--name" => name = Some(value.clone()),
                    "--owner" => owner = Some(value.clone()),
                    "--max-concurrent" => {
                        let k: i32 = value.parse().with_context(|| {
                            format!("--max-concurrent {value:?} is not a number")
                        })?;
                        if k < 1 {
                            bail!("--max-concurrent must be at least 1");
                        }
                        max_concurrent = Some(k);
                    }
                    other => bail!("unknown option {other:?}\n{USAGE}"),
                }
            }
            Ok(Command::BootstrapOrg {
                slug: slug.with_context(|| format!("--slug is required\n{USAGE}"))?,
                name: name.with_context(|| format!("--name is required\n{USAGE}"))?,
                max_concurrent,
                owner,
            })
        }
        "-h" | "--help" | "help" => bail!("{USAGE}"),
        _ => bail!("unexpected arguments {args:?}\n{USAGE}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = parse(&args)?;
    if command == Command::OpenApi {
        // Before settings and telemetry: stdout carries the document and nothing else.
        return print_openapi();
    }
    let settings = Settings::load()?;
    let _telemetry = shared::telemetry::init("switchyard-api", &settings.telemetry)?;
    match command {
        Command::Serve => {
            let shutdown = shared::shutdown::on_signal();
            let running = api::spawn_with_shutdown(settings, shutdown).await?;
            running.server.await.context("api server failed")?;
            tracing::info!("api stopped");
        }
        Command::OpenApi => print_openapi()?,
        Command::Migrate => {
            let owner = settings.database.migration_url.as_ref();
            shared::db::run_migrations(owner.unwrap_or(&settings.database.url))
                .await
                .context("running migrations")?;
            tracing::info!("migrations applied");
            // The bucket is storage schema too: create it with the tables, before anything serves.
            shared::store::ObjectStore::new(&settings.s3)
                .ensure_bucket()
                .await
                .context("creating the object-store bucket")?;
            tracing::info!(bucket = %settings.s3.bucket, "bucket ready");
        }
        Command::BootstrapOrg {
            slug,
            name,
            max_concurrent,
            owner,
        } => {
            let db = shared::db::Db::new(&settings.database)?;
            let boot = api::bootstrap::bootstrap_org(&db, &slug, &name, max_concurrent).await?;
            if let Some(login) = owner {
                api::bootstrap::add_owner(&db, boot.org.id, &login).await?;
            }
            println!("{}", boot.token);
        }
    }
    Ok(())
}

/// Prints the OpenAPI document (what `/api/v1/openapi.json` serves), pretty, on stdout.
fn print_openapi() -> anyhow::Result<()> {
    let document = api::openapi::document()
        .to_pretty_json()
        .context("encoding the OpenAPI document")?;
    println!("{document}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn no_arguments_means_serve() {
        assert_eq!(parse(&[]).ok(), Some(Command::Serve));
        assert_eq!(parse(&args(&["serve"])).ok(), Some(Command::Serve));
    }

    #[test]
    fn openapi_takes_no_arguments() {
        assert_eq!(parse(&args(&["openapi"])).ok(), Some(Command::OpenApi));
    }

    #[test]
    fn bootstrap_org_reads_its_flags_in_any_order() {
        assert_eq!(
            parse(&args(&[
                "bootstrap-org",
                "--name",
                "Demo",
                "--slug",
                "demo",
                "--max-concurrent",
                "3",
                "--owner",
                "octocat"
            ]))
            .ok(),
            Some(Command::BootstrapOrg {
                slug: "demo".into(),
                name: "Demo".into(),
                max_concurrent: Some(3),
                owner: Some("octocat".into())
            })
        );
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert!(parse(&args(&["bootstrap-org", "--slug", "demo"])).is_err());
        assert!(parse(&args(&["bootstrap-org", "--slug"])).is_err());
        assert!(
            parse(&args(&[
                "bootstrap-org",
                "--slug",
                "d",
                "--name",
                "n",
                "--max-concurrent",
                "0"
            ]))
            .is_err()
        );
        assert!(parse(&args(&["migrate", "now"])).is_err());
        assert!(parse(&args(&["openapi", "--yaml"])).is_err());
        assert!(parse(&args(&["frobnicate"])).is_err());
    }
}
