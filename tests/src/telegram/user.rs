//! The people on the other side: users in their private chats ([`FakeUser`]) and the groups
//! the bot posts in ([`FakeGroup`]).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::server::{bot_user, message_json, new_file_id, photo_size};
use super::*;

/// A person talking to the bot in a private chat.
#[derive(Clone)]
pub struct FakeUser {
    pub(super) tg: FakeTelegram,
    pub id: i64,
    pub first_name: String,
    pub language_code: Option<String>,
    /// How many of the chat's bot messages this user has already read.
    pub(super) seen: Arc<Mutex<usize>>,
}

impl FakeUser {
    fn sender_json(&self) -> Value {
        let mut from = json!({ "id": self.id, "is_bot": false, "first_name": self.first_name });
        if let Some(l) = &self.language_code {
            from["language_code"] = json!(l);
        }
        from
    }

    fn chat_json(&self) -> Value {
        json!({ "id": self.id, "type": "private", "first_name": self.first_name })
    }

    /// Sends `message` (its content: text, photo, …) from this user into `chat`, which
    /// thereby is a chat the bot may write to.
    /// Posts `message` in `chat`; its message id.
    fn post(&self, chat: Value, mut message: Value) -> i64 {
        let id = {
            let mut inner = self.tg.inner.lock().unwrap();
            let chat_id = chat["id"].as_i64().unwrap_or_default();
            inner.known_chats.insert(chat_id, chat.clone());
            inner.new_message_id()
        };
        message["message_id"] = json!(id);
        message["date"] = json!(chrono::Utc::now().timestamp());
        message["chat"] = chat;
        message["from"] = self.sender_json();
        self.tg.push_update(json!({ "message": message }));
        id
    }

    /// Sends a text message (a command is just text starting with `/`).
    /// Returns the message's id.
    pub fn send(&self, text: &str) -> i64 {
        let mut message = json!({ "text": text });
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or(text)
                .encode_utf16()
                .count();
            message["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": len }]);
        }
        self.post(self.chat_json(), message)
    }

    /// Sends a sticker: something that is not text where text may be expected.
    pub fn send_sticker(&self) {
        self.post(
            self.chat_json(),
            json!({ "sticker": { "file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false } }),
        );
    }

    /// Sends a photo, as Telegram delivers one: two sizes, each with a file_id the bot may
    /// send again. Returns the large size's file_unique_id ("AQAD…" where its file_id is
    /// "AgAC…" with the same tail).
    pub fn send_photo(&self, caption: Option<&str>) -> String {
        let sizes = [(90, 1_254), (800, 48_211)].map(|(side, bytes)| {
            let photo = Photo {
                bytes,
                is_png: false,
                file_id: new_file_id(),
            };
            (photo_size(&photo, side), photo)
        });
        let mut message = json!({ "photo": [sizes[0].0, sizes[1].0] });
        if let Some(c) = caption {
            message["caption"] = json!(c);
        }
        {
            let mut inner = self.tg.inner.lock().unwrap();
            for (_, photo) in &sizes {
                inner.photos.insert(photo.file_id.clone(), photo.clone());
            }
        }
        self.post(self.chat_json(), message);
        sizes[1].0["file_unique_id"].as_str().unwrap().to_string()
    }

    /// Replies with `text` to the message `message_id` the bot sent in `chat_id`: this user's
    /// private chat, or a [`FakeTelegram::group`] (as staff answer there).
    pub fn reply_to(&self, chat_id: i64, message_id: i64, text: &str) {
        let (chat, replied) = {
            let inner = self.tg.inner.lock().unwrap();
            let chat = if chat_id == self.id {
                Some(self.chat_json())
            } else {
                let group = inner.known_chats.get(&chat_id);
                group.filter(|c| c["type"] != "private").cloned()
            };
            let replied = inner
                .events
                .get(&chat_id)
                .and_then(|e| e.iter().rev().find(|e| e.message_id == message_id))
                .cloned();
            (chat, replied)
        };
        let chat = chat
            .unwrap_or_else(|| panic!("chat {chat_id} is neither {}'s own nor a group", self.id));
        let replied = replied
            .unwrap_or_else(|| panic!("the bot sent no message {message_id} in chat {chat_id}"));
        // Telegram quotes the replied message as it is now, its buttons included.
        let mut quoted = message_json(&replied, &chat);
        if !replied.buttons.is_empty() {
            quoted["reply_markup"] = super::server::markup_json(&replied.buttons);
        }
        let message = json!({ "text": text, "reply_to_message": quoted });
        self.post(chat, message);
    }

    /// Presses the button whose label contains `label` on `message`. Returns the callback
    /// query id, to look up how the bot answered it.
    pub fn press(&self, message: &BotMessage, label: &str) -> String {
        let data = message
            .buttons
            .iter()
            .flatten()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| {
                panic!(
                    "no button {label:?} on {:?}; buttons: {:?}",
                    message.text,
                    message.button_labels()
                )
            })
            .1
            .clone();
        self.press_data(message.message_id, &data)
    }

    /// Presses a button on a message the bot sent in a group (the staff chat).
    pub fn press_in_group(&self, message: &BotMessage, label: &str) -> String {
        let data = message
            .buttons
            .iter()
            .flatten()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| {
                panic!(
                    "no button {label:?}; buttons: {:?}",
                    message.button_labels()
                )
            })
            .1
            .clone();
        self.press_data_in_group(message.chat_id, message.message_id, &data)
    }

    /// A callback query from a group message with arbitrary data (a forged Approve).
    pub fn press_data_in_group(&self, chat_id: i64, message_id: i64, data: &str) -> String {
        let chat = self
            .tg
            .inner
            .lock()
            .unwrap()
            .known_chats
            .get(&chat_id)
            .cloned()
            .unwrap_or_else(|| panic!("no group {chat_id}"));
        let query_id = format!("{}-{}", self.id, uuid::Uuid::new_v4().simple());
        self.tg.push_update(json!({ "callback_query": {
            "id": query_id,
            "from": self.sender_json(),
            "chat_instance": format!("ci{chat_id}"),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": chrono::Utc::now().timestamp(),
                "chat": chat,
                "from": bot_user(),
                "caption": "…",
                "photo": [{ "file_id": "AgACx", "file_unique_id": "AQADx", "width": 90, "height": 90 }]
            }
        }}));
        query_id
    }

    /// Sends a callback query with arbitrary data, as a forged or stale button would.
    pub fn press_data(&self, message_id: i64, data: &str) -> String {
        let query_id = format!("{}-{}", self.id, uuid::Uuid::new_v4().simple());
        // Telegram sends the pressed message as it is now: its text and its keyboard.
        let shown = self
            .tg
            .events_for(self.id)
            .into_iter()
            .rev()
            .find(|m| m.message_id == message_id);
        let message = match shown {
            Some(m) => {
                let mut message = super::server::message_json(&m, &self.chat_json());
                if !m.buttons.is_empty() {
                    message["reply_markup"] = super::server::markup_json(&m.buttons);
                }
                message
            }
            None => json!({
                "message_id": message_id,
                "date": chrono::Utc::now().timestamp(),
                "chat": self.chat_json(),
                "from": bot_user(),
                "text": "…"
            }),
        };
        self.tg.push_update(json!({ "callback_query": {
            "id": query_id,
            "from": self.sender_json(),
            "chat_instance": format!("ci{}", self.id),
            "data": data,
            "message": message
        }}));
        query_id
    }

    /// Opens `invoice`'s payment form and confirms it: Telegram sends the bot a
    /// `pre_checkout_query` and gives it 10 s to answer. Returns the answer (Err with the
    /// message shown to the user when refused); no payment follows.
    pub async fn pre_checkout(&self, invoice: &Invoice) -> Result<(), String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.tg
            .inner
            .lock()
            .unwrap()
            .pre_checkouts
            .insert(id.clone(), None);
        self.tg.push_update(json!({ "pre_checkout_query": {
            "id": id,
            "from": self.sender_json(),
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
        }}));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.tg.inner.lock().unwrap().pre_checkouts[&id].clone();
            if let Some(answer) = answer {
                return answer;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not answer the pre-checkout query for {:?} within 10 s, after which Telegram cancels the payment",
                invoice.payload
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Pays `invoice` in Stars: the pre-checkout step, then, when the bot accepts, the
    /// `successful_payment` message in this user's chat with a fresh charge id the bot may
    /// refund. Paying one invoice twice works, as with a forwarded copy.
    pub async fn pay(&self, invoice: &Invoice) -> Payment {
        if let Err(error_message) = self.pre_checkout(invoice).await {
            return Payment::Refused { error_message };
        }
        Payment::Paid {
            charge_id: self.complete_payment(invoice),
        }
    }

    /// The `successful_payment` Telegram sends after a pre-checkout the bot approved. Called on
    /// its own it plays the race of one invoice paid twice (two devices, or a forward) where
    /// both pre-checkouts were approved before either payment arrived. Returns the charge id.
    pub fn complete_payment(&self, invoice: &Invoice) -> String {
        let charge_id = self.charge(invoice);
        self.post(
            self.chat_json(),
            json!({ "successful_payment": {
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
                "invoice_payload": invoice.payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            }}),
        );
        charge_id
    }

    /// A payment Telegram took but whose `successful_payment` update the bot never received
    /// (it was down past the update's 24 hours, or the update was lost): it exists only in
    /// `getStarTransactions`. Returns the charge id.
    pub async fn pay_without_update(&self, invoice: &Invoice) -> String {
        self.pre_checkout(invoice)
            .await
            .expect("the bot accepts the pre-checkout");
        self.charge(invoice)
    }

    /// Records the charge and its Star transaction.
    fn charge(&self, invoice: &Invoice) -> String {
        let charge_id = format!("stxTEST{}", uuid::Uuid::new_v4().simple());
        let mut inner = self.tg.inner.lock().unwrap();
        inner.charges.insert(charge_id.clone(), self.id);
        inner.star_transactions.push(json!({
            "id": charge_id,
            "amount": invoice.total_amount,
            "date": chrono::Utc::now().timestamp(),
            "source": { "type": "user", "transaction_type": "invoice_payment",
                        "user": self.sender_json(), "invoice_payload": invoice.payload },
        }));
        charge_id
    }

    /// Sends the receipt photo of a card transfer. Returns what the bot answered, and the
    /// receipt's post in the staff group `staff` (other posts and edits there are skipped).
    pub async fn send_receipt(&self, staff: &FakeGroup) -> (BotMessage, BotMessage) {
        self.send_photo(None);
        let answer = self.next().await;
        let post = loop {
            let m = staff.next().await;
            if m.photo.is_some() && !m.edited {
                break m;
            }
        };
        (answer, post)
    }

    /// Waits (up to 30 s) for the next message the bot sends or edits in this chat.
    pub async fn next(&self) -> BotMessage {
        next_in(&self.tg, self.id, &self.seen, Some(Duration::from_secs(30))).await
    }

    /// The next message the bot sent or edited in this chat, if there is one already.
    pub fn try_next(&self) -> Option<BotMessage> {
        let events = self.tg.events_for(self.id);
        let mut seen = self.seen.lock().unwrap();
        (events.len() > *seen).then(|| {
            *seen += 1;
            events[*seen - 1].clone()
        })
    }

    /// Blocks the bot: Telegram refuses every message to this user from now on.
    pub fn block_bot(&self) {
        self.tg.inner.lock().unwrap().blocked.insert(self.id);
    }

    /// Waits, without limit, for the next message the bot sends or edits in this chat.
    pub async fn next_quiet(&self) -> BotMessage {
        next_in(&self.tg, self.id, &self.seen, None).await
    }

    /// Waits for the answer to a button press.
    pub async fn answer_to(&self, query_id: &str) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(a) = self.tg.callback_answer(query_id) {
                return a;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not answer callback {query_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that the bot says nothing more for a short while.
    pub async fn expect_silence(&self) {
        silence_in(&self.tg, self.id, &self.seen).await;
    }
}

/// A group the bot posts in, from [`FakeTelegram::group`]; users write there with
/// [`FakeUser::reply_to`].
#[derive(Clone)]
pub struct FakeGroup {
    pub(super) tg: FakeTelegram,
    pub chat_id: i64,
    /// How many of the group's bot messages the test has already read.
    pub(super) seen: Arc<Mutex<usize>>,
}

impl FakeGroup {
    /// Waits (up to 30 s) for the next message the bot sends or edits in this group.
    pub async fn next(&self) -> BotMessage {
        next_in(
            &self.tg,
            self.chat_id,
            &self.seen,
            Some(Duration::from_secs(30)),
        )
        .await
    }

    /// The next message that does not start with `marker`: a story about a ticket reads past
    /// the sale notices ("🛒 …") its purchases posted meanwhile.
    pub async fn next_past(&self, marker: &str) -> BotMessage {
        loop {
            let m = self.next().await;
            if !m.text.starts_with(marker) {
                return m;
            }
        }
    }

    /// Asserts that the bot says nothing more in this group for a short while.
    pub async fn expect_silence(&self) {
        silence_in(&self.tg, self.chat_id, &self.seen).await;
    }
}
