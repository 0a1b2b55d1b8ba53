//! Where things live: `RIGEL_HOME` and the database URL (flags > env > defaults). The API URL is
//! read by `RigelClient::from_env`, which also completes a bare server address with `/api`, so
//! every component that talks to the server reads it the same way.

use std::path::PathBuf;

/// `RIGEL_HOME`, else `~/.rigel`.
pub fn rigel_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os(rigel_common::env::HOME).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let user_home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::anyhow!("neither RIGEL_HOME nor HOME is set; set RIGEL_HOME"))?;
    Ok(PathBuf::from(user_home).join(".rigel"))
}

/// `RIGEL_DATABASE_URL`, else the SQLite file in the home folder.
pub fn database_url(home: &std::path::Path) -> String {
    match std::env::var(rigel_common::env::DATABASE_URL) {
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
/// writable by its owner only; SQLite gives its `-wal` and `-shm` files the same mode. Returns
/// the file when this call created it (empty).
pub fn make_database_private(
    home: &std::path::Path,
    database_url: &str,
) -> anyhow::Result<Option<PathBuf>> {
    let file = home.join("rigel.db");
    if database_url != format!("sqlite://{}", file.display()) {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let open = |new: bool| {
            std::fs::OpenOptions::new()
                .create_new(new)
                .append(true)
                .mode(0o600)
                .open(&file)
        };
        // created here, or found: only a file this call created may be empty on purpose
        let (opened, created) = match open(true) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (open(false), false),
            other => (other, true),
        };
        let opened = opened.and_then(|f| {
            let mode = f.metadata()?.permissions().mode();
            if mode & 0o077 != 0 {
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        });
        opened
            .map_err(|e| anyhow::anyhow!("cannot create the database {}: {e}", file.display()))?;
        Ok(created.then_some(file))
    }
    #[cfg(not(unix))]
    Ok(None)
}

/// The database a command opens, its home folder and file created private (0700 and 0600) if
/// missing.
pub struct PrivateDatabase {
    pub url: String,
    /// The file, when this command created it (empty): the server then takes an empty file for
    /// a new database rather than a lost one (`DbOptions::created_empty`).
    created: Option<PathBuf>,
}

impl PrivateDatabase {
    pub fn open() -> anyhow::Result<Self> {
        use anyhow::Context;
        let home = rigel_home()?;
        create_private_dir(&home)
            .with_context(|| format!("cannot create the Rigel home folder {}", home.display()))?;
        let url = database_url(&home);
        let created = make_database_private(&home, &url)?;
        Ok(Self { url, created })
    }

    /// Whether this command created the (empty) file.
    pub fn created(&self) -> bool {
        self.created.is_some()
    }

    /// After opening failed: removes the file this command created if it is still empty, so
    /// the next start is a first start again rather than one refused for an empty database.
    pub fn forget_unused(&self) {
        if let Some(file) = &self.created {
            if std::fs::metadata(file).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(file);
            }
        }
    }
}
