//! Where things live: `RIGEL_HOME` and the database URL (flags > env > defaults). The API URL is
//! read by `RigelClient::from_env`, which also completes a bare server address with `/api`, so
//! every component that talks to the server reads it the same way.

use std::path::PathBuf;

/// `RIGEL_HOME`, else `~/.rigel`.
pub fn rigel_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("RIGEL_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let user_home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::anyhow!("neither RIGEL_HOME nor HOME is set; set RIGEL_HOME"))?;
    Ok(PathBuf::from(user_home).join(".rigel"))
}

/// `RIGEL_DATABASE_URL`, else the SQLite file in the home folder.
pub fn database_url(home: &std::path::Path) -> String {
    match std::env::var("RIGEL_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => format!("sqlite://{}", home.join("rigel.db").display()),
    }
}

/// Where engines on this machine keep content-addressed flow code between runs (absolute: the
/// cached file is handed to flows that run in other folders).
pub fn code_cache() -> Option<PathBuf> {
    let dir = rigel_home().ok()?.join("cache").join("flows");
    std::path::absolute(&dir).ok()
}

/// Creates `dir` (and its parents) readable by its owner only: the home folder holds the
/// database, whose flow code, runner environments and block credentials are secrets. A folder
/// that exists already keeps its mode (it may be shared on purpose).
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The default database file (`$RIGEL_HOME/rigel.db`) is created, or kept, readable and
/// writable by its owner only; SQLite gives its `-wal` and `-shm` files the same mode.
pub fn make_database_private(home: &std::path::Path, database_url: &str) -> anyhow::Result<()> {
    let file = home.join("rigel.db");
    if database_url != format!("sqlite://{}", file.display()) {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&file)
            .and_then(|f| {
                let mode = f.metadata()?.permissions().mode();
                if mode & 0o077 != 0 {
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(())
            });
        opened
            .map_err(|e| anyhow::anyhow!("cannot create the database {}: {e}", file.display()))?;
    }
    Ok(())
}

/// The home folder and the URL of its database, both created private (0700 and 0600) if missing.
pub fn private_database() -> anyhow::Result<(PathBuf, String)> {
    use anyhow::Context;
    let home = rigel_home()?;
    create_private_dir(&home)
        .with_context(|| format!("cannot create the Rigel home folder {}", home.display()))?;
    let database_url = database_url(&home);
    make_database_private(&home, &database_url)?;
    Ok((home, database_url))
}
