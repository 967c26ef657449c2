//! `guichet users …`: the web console's accounts. A password is read from
//! a prompt (twice, not echoed) or, when stdin is not a terminal, from its
//! first line; never from an argument, never logged.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, Result};

use guichet::config::Settings;
use guichet::desk::access::{departement_prefix, Role};
use guichet::store::{timestamp, NewUser};
use guichet::web::password;

use super::shared::{failure, open_store, print_json, usage_error};
use super::terminal;

/// The options of `users add`.
#[derive(clap::Args)]
pub struct AddOptions {
    /// The login name (an agent's is their [[agents]] name).
    name: String,
    /// agent, superviseur, partenaire or admin.
    #[arg(long)]
    role: String,
    /// A team (repeatable): an agent's teams; part of a partner's perimeter.
    #[arg(long = "team")]
    teams: Vec<String>,
    /// An establishment's UAI (repeatable): part of a partner's perimeter.
    #[arg(long = "uai")]
    uais: Vec<String>,
    /// A département code (42, 2A, 974): part of a partner's perimeter.
    #[arg(long)]
    departement: Option<String>,
}

pub async fn add(settings: &Settings, options: AddOptions) -> Result<ExitCode> {
    let Some(role) = Role::from_text(&options.role) else {
        return Ok(usage_error(format_args!(
            "unknown role {:?} (agent, superviseur, partenaire, admin)",
            options.role
        )));
    };
    if !valid_name(&options.name) {
        return Ok(usage_error(
            "a login name is 1 to 64 letters, digits, '.', '-', '_' or '@'",
        ));
    }
    if let Some(code) = &options.departement {
        if departement_prefix(code).is_none() {
            return Ok(usage_error(format_args!(
                "--departement {code:?}: a département code is 1 to 3 digits, or 2A, 2B"
            )));
        }
    }
    if role == Role::Partenaire
        && options.teams.is_empty()
        && options.uais.is_empty()
        && options.departement.is_none()
    {
        return Ok(usage_error(
            "a partenaire needs a perimeter: --uai, --departement or --team",
        ));
    }
    let store = open_store(settings).await?;
    if store.user(&options.name).await?.is_some() {
        return Ok(failure(format_args!("account {} exists", options.name)));
    }
    let hash = match read_new_password()? {
        Ok(hash) => hash,
        Err(code) => return Ok(code),
    };
    let uais: Vec<String> = options
        .uais
        .iter()
        .map(|u| u.trim().to_uppercase())
        .collect();
    let added = store
        .add_user(&NewUser {
            name: &options.name,
            role: role.as_str(),
            password_hash: &hash,
            teams: &options.teams,
            uais: &uais,
            departement: options.departement.as_deref(),
            at: &timestamp(chrono::Utc::now()),
        })
        .await?;
    if !added {
        return Ok(failure(format_args!("account {} exists", options.name)));
    }
    println!("account {} added ({})", options.name, role.as_str());
    Ok(ExitCode::SUCCESS)
}

pub async fn list(settings: &Settings, json: bool) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let users = store.users().await?;
    if json {
        print_json(&users)?;
        return Ok(ExitCode::SUCCESS);
    }
    for user in &users {
        let mut perimeter = Vec::new();
        if !user.teams.is_empty() {
            perimeter.push(format!("teams {}", user.teams.join(",")));
        }
        if !user.uais.is_empty() {
            perimeter.push(format!("uai {}", user.uais.join(",")));
        }
        if let Some(code) = &user.departement {
            perimeter.push(format!("departement {code}"));
        }
        println!(
            "{:<24} {:<12} {:<9} {}",
            terminal::line(&user.name),
            user.role,
            if user.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            },
            terminal::line(&perimeter.join("; "))
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn disable(settings: &Settings, name: &str) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    if !store
        .disable_user(name, &timestamp(chrono::Utc::now()))
        .await?
    {
        return Ok(failure(format_args!("no account {name}")));
    }
    println!("account {name} disabled; its sessions are closed");
    Ok(ExitCode::SUCCESS)
}

pub async fn passwd(settings: &Settings, name: &str) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    if store.user(name).await?.is_none() {
        return Ok(failure(format_args!("no account {name}")));
    }
    let hash = match read_new_password()? {
        Ok(hash) => hash,
        Err(code) => return Ok(code),
    };
    store.set_password(name, &hash).await?;
    println!("password of {name} changed; its sessions are closed");
    Ok(ExitCode::SUCCESS)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

/// The new password, hashed: prompted twice at a terminal, else the first
/// line of stdin. A usage error (exit 2) when too short or mistyped.
fn read_new_password() -> Result<Result<String, ExitCode>> {
    let password = if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("Mot de passe : ").context("reading the password")?;
        let again = rpassword::prompt_password("Mot de passe (encore) : ")
            .context("reading the password")?;
        if first != again {
            return Ok(Err(usage_error("the two passwords differ")));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    match password::hash(&password) {
        Ok(hash) => Ok(Ok(hash)),
        Err(password::PasswordError::TooShort) => {
            Ok(Err(usage_error(password::PasswordError::TooShort)))
        }
        Err(error) => Err(error.into()),
    }
}
