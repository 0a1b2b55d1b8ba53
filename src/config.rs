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
