//! Dialogue state in the shop's own database (a teloxide `Storage` over sea-orm), so a restart
//! or a second replica continues a conversation where it was.
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use teloxide::dispatching::dialogue::Storage;
use teloxide::types::ChatId;
use vpnshop_core::clock::Clock;
use vpnshop_core::dialogues;
use vpnshop_core::sea_orm::{DatabaseConnection, DbErr};

pub struct DbStorage {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl DbStorage {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(DbStorage { db, clock })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("dialogue storage: {0}")]
    Db(#[from] DbErr),
    #[error("dialogue state does not parse: {0}")]
    Format(#[from] serde_json::Error),
}

impl<D> Storage<D> for DbStorage
where
    D: Serialize + DeserializeOwned + Send + 'static,
{
    type Error = StorageError;

    fn remove_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            dialogues::remove(&self.db, chat_id.0).await?;
            Ok(())
        })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: D,
    ) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            let state = serde_json::to_string(&dialogue)?;
            dialogues::save(&self.db, chat_id.0, state, self.clock.now()).await?;
            Ok(())
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<D>, Self::Error>> {
        Box::pin(async move {
            match dialogues::load(&self.db, chat_id.0).await? {
                None => Ok(None),
                // A state from an older version that no longer parses starts the chat afresh
                // rather than wedging it.
                Some(s) => Ok(serde_json::from_str(&s).ok()),
            }
        })
    }
}
