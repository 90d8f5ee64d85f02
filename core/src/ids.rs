//! Identifiers whose constructor is the only way in, so a raw `i64` is never mistaken for another.
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            sea_orm::DeriveValueType,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(raw: i64) -> Self {
                $name(raw)
            }
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A Telegram user or chat id: 64-bit, since they exceed 2^31.
    TelegramId
);
id_type!(CustomerId);
id_type!(LocationId);
id_type!(PlanId);
id_type!(PanelId);
id_type!(SubscriptionId);
id_type!(OrderId);
id_type!(PaymentId);
id_type!(AccountId);
id_type!(TransactionId);
id_type!(JobId);
id_type!(TicketId);
id_type!(ReceiptId);
id_type!(PromoCodeId);
id_type!(CardId);
id_type!(BroadcastId);

/// A message in a staff chat: the chat and the message id. Message ids repeat from chat to
/// chat, so a staff reply is matched on both — after the staff chat changes, a reply in the new
/// one can never reach the customer of an old post with the same number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StaffPost {
    pub chat: i64,
    pub message: i64,
}
