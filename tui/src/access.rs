//! Who the server takes the TUI for (`GET /api/me`) and whether that lets it change anything.

use rigel_common::api_key::{Me, Role};

/// The caller's role and key, as the server reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    /// `None` when the server does not require keys.
    pub key_name: Option<String>,
}

impl Default for Access {
    /// What a server without keys (or too old to have `GET /api/me`) allows: everything.
    fn default() -> Self {
        Self {
            role: Role::Admin,
            key_name: None,
        }
    }
}

impl From<Me> for Access {
    fn from(me: Me) -> Self {
        Self {
            role: me.role,
            key_name: me.key_name,
        }
    }
}

impl Access {
    /// Whether the role may start and cancel runs and pause schedules and queues. `monitor`
    /// only reads and `agent` only works its own runs, so for them the TUI is read-only.
    pub fn may_change(&self) -> bool {
        !matches!(self.role, Role::Monitor | Role::Agent)
    }

    /// Who the caller is, in a sentence: "the key 'dash'" or "this connection".
    pub fn who(&self) -> String {
        match &self.key_name {
            Some(name) => format!("the key '{name}'"),
            None => "this connection".to_string(),
        }
    }

    /// The header's words for the key: `key 'dash' (monitor)`; `None` without a key.
    pub fn key_label(&self) -> Option<String> {
        self.key_name
            .as_ref()
            .map(|name| format!("key '{name}' ({})", self.role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_monitor_and_agent_keys_are_read_only() {
        for role in Role::ALL {
            let access = Access {
                role,
                key_name: Some("k".into()),
            };
            assert_eq!(
                access.may_change(),
                !matches!(role, Role::Monitor | Role::Agent),
                "{role}"
            );
        }
        assert!(Access::default().may_change());
        assert_eq!(Access::default().key_label(), None);
    }
}
