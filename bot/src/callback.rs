//! Callback data: a short typed token naming an action and, where needed, an id. It never
//! carries a price, an amount or authority; handlers reload what it names and check it.
use vpnshop_core::customers::Language;

/// Telegram refuses callback data longer than this.
pub const MAX_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Menu,
    LanguageMenu,
    SetLanguage(Language),
    Wallet,
    Invite,
    Help,
}

impl Action {
    pub fn encode(self) -> String {
        let s = match self {
            Action::Menu => "m".to_string(),
            Action::LanguageMenu => "L".to_string(),
            Action::SetLanguage(l) => format!("l:{}", l.code()),
            Action::Wallet => "w".to_string(),
            Action::Invite => "i".to_string(),
            Action::Help => "h".to_string(),
        };
        debug_assert!(s.len() <= MAX_LEN);
        s
    }

    /// The one place callback data is parsed. Unknown or malformed data is `None`: an old
    /// button from an earlier version, or a forged one.
    pub fn decode(data: &str) -> Option<Action> {
        let (tag, arg) = data.split_once(':').unwrap_or((data, ""));
        Some(match (tag, arg) {
            ("m", "") => Action::Menu,
            ("L", "") => Action::LanguageMenu,
            ("l", code) => Action::SetLanguage(Language::parse(code)?),
            ("w", "") => Action::Wallet,
            ("i", "") => Action::Invite,
            ("h", "") => Action::Help,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_fits() {
        let mut all = vec![
            Action::Menu,
            Action::LanguageMenu,
            Action::Wallet,
            Action::Invite,
            Action::Help,
        ];
        all.extend(Language::ALL.map(Action::SetLanguage));
        for a in all {
            let data = a.encode();
            assert!(data.len() <= MAX_LEN);
            assert_eq!(Action::decode(&data), Some(a));
        }
    }

    #[test]
    fn forged_or_old_data_is_rejected() {
        for bad in [
            "",
            "x",
            "l:de",
            "l:",
            "m:1",
            "w:9999:price=1",
            "pay:1:amount=0",
        ] {
            assert_eq!(Action::decode(bad), None, "{bad}");
        }
    }
}
