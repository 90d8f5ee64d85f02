//! The `subscriptions` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::SubscriptionId,
    pub customer_id: crate::ids::CustomerId,
    pub plan_id: crate::ids::PlanId,
    pub panel_id: crate::ids::PanelId,
    pub panel_account: String,
    pub status: crate::subscriptions::SubscriptionStatus,
    pub is_trial: bool,
    pub traffic_limit_bytes: Option<i64>,
    pub used_bytes: i64,
    pub expires_at: Option<DateTimeUtc>,
    pub subscription_url: Option<String>,
    pub usage_synced_at: Option<DateTimeUtc>,
    pub account_uuid: Option<String>,
    pub account_sub_id: Option<String>,
    pub online_at: Option<DateTimeUtc>,
    pub panel_status: Option<crate::subscriptions::PanelState>,
    pub auto_renew: bool,
    pub disabled_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub switched_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
