//! Staff, their roles and what each role may do. Authority is always looked up here on the
//! server when an action runs, never read from a button or from being in a chat: a callback only
//! names an action and an id.
//!
//! [`Role::permissions`] is the one table of who may do what. Owners may also define custom
//! roles (a named set of those permissions, "receipts only"). Owners grant anything; admins grant
//! finance and support; nobody grants above their own role, and the last owner stays.
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};

use crate::audit::Entry;
use crate::entities::{custom_roles, staff};
use crate::ids::TelegramId;

text_column! {
    /// A staff member's role. The `staff.role` column is this type. Ordered by rank: a custom
    /// role ranks with finance and support (below admin).
    #[derive(PartialOrd, Ord)]
    pub enum Role {
        /// A named set of permissions an owner defined (`staff.custom_role_id`).
        Custom = "custom",
        /// Answers tickets, looks customers up, re-sends links.
        Support = "support",
        /// Receipts, payments in review, balances, refunds, revenue.
        Finance = "finance",
        /// Runs the shop: catalog, panels, promo codes, settings, customers, finance and support
        /// staff.
        Admin = "admin",
        /// Everything, including owners, admins and custom roles.
        Owner = "owner",
    }
}

text_column! {
    /// One thing a staff member may do. Stored by name in a custom role.
    pub enum Permission {
        /// Approve and reject card-to-card receipts.
        Receipts = "receipts",
        /// Decide payments in review (paid, but not as asked).
        Payments = "payments",
        /// Adjust a customer's wallet or points.
        Balances = "balances",
        /// Refund a fulfilled order to the wallet.
        Refunds = "refunds",
        /// See revenue in `/stats`.
        Revenue = "revenue",
        /// Answer, take and close support tickets.
        Tickets = "tickets",
        /// Find customers and see their profile.
        Customers = "customers",
        /// Re-send a customer's subscription link.
        Links = "links",
        /// Ban and unban customers.
        Bans = "bans",
        /// Extend subscriptions and add traffic.
        Subscriptions = "subscriptions",
        /// Send a customer a message.
        Messages = "messages",
        /// Locations and plans.
        Catalog = "catalog",
        /// Panels.
        Panels = "panels",
        /// Promo codes.
        Promos = "promos",
        /// Cards for card-to-card transfers and exchange rates.
        Cards = "cards",
        /// Runtime settings: trial, rules, texts, maintenance, required channel.
        Settings = "settings",
        /// Broadcasts to customers.
        Broadcasts = "broadcasts",
        /// Report charts and CSV exports (`/report`).
        Reports = "reports",
        /// Read the audit log.
        Audit = "audit",
        /// Grant and revoke finance and support roles (owners: any role).
        Staff = "staff",
    }
}

impl Role {
    /// The one table of what each fixed role may do. A custom role's permissions are its own.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Owner | Role::Admin => Permission::ALL,
            Role::Finance => &[
                Receipts, Payments, Balances, Refunds, Revenue, Customers, Reports,
            ],
            Role::Support => &[Tickets, Customers, Links],
            Role::Custom => &[],
        }
    }

    /// Whether someone with this role may give (or take away) `role`.
    pub fn may_assign(self, role: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => matches!(role, Role::Finance | Role::Support),
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role `{0}` (one of: owner, admin, finance, support)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(&s.trim().to_ascii_lowercase())
            .filter(|r| *r != Role::Custom)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// What someone may do right now, read from the staff table when their action runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub who: TelegramId,
    pub role: Role,
    /// The custom role's name, when `role` is `Custom`.
    pub custom: Option<String>,
    pub permissions: Vec<Permission>,
}

impl Access {
    pub fn may(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// The role as people read it: `finance`, or a custom role's name.
    pub fn title(&self) -> String {
        self.custom
            .clone()
            .unwrap_or_else(|| self.role.as_str().to_string())
    }
}

/// What a grant gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    Role(Role),
    /// A custom role, by name.
    Custom(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("you may not manage staff")]
    NotAllowed,
    #[error("only an owner may give or take away the {0} role")]
    AboveYou(Role),
    #[error("the last owner cannot be removed or demoted")]
    LastOwner,
    #[error("there is no custom role named {0}")]
    NoSuchRole(String),
    #[error("a role name is 1–32 letters, digits, - or _, not a fixed role's name")]
    BadName,
    #[error("a custom role needs at least one permission")]
    NoPermissions,
    #[error("unknown permission `{0}`")]
    UnknownPermission(String),
    #[error("a custom role named {0} exists")]
    RoleExists(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What this person may do, if they are staff.
pub async fn access_of(
    db: &impl ConnectionTrait,
    who: TelegramId,
) -> Result<Option<Access>, DbErr> {
    let Some(row) = staff::Entity::find()
        .filter(staff::Column::TelegramId.eq(who))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    access_from(db, row).await.map(Some)
}

async fn access_from(db: &impl ConnectionTrait, row: staff::Model) -> Result<Access, DbErr> {
    if row.role != Role::Custom {
        return Ok(Access {
            who: row.telegram_id,
            role: row.role,
            custom: None,
            permissions: row.role.permissions().to_vec(),
        });
    }
    let custom = match row.custom_role_id {
        Some(id) => custom_roles::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    Ok(Access {
        who: row.telegram_id,
        role: Role::Custom,
        custom: custom.as_ref().map(|c| c.name.clone()),
        // A custom role that is gone gives nothing.
        permissions: custom
            .map(|c| permissions_of(&c.permissions))
            .unwrap_or_default(),
    })
}

fn permissions_of(list: &str) -> Vec<Permission> {
    list.split(',')
        .filter_map(|p| Permission::parse(p.trim()))
        .collect()
}

/// `by` gives `target` a role (replacing any they had).
pub async fn grant(
    db: &DatabaseConnection,
    by: &Access,
    target: TelegramId,
    grant: Grant,
    now: DateTime<Utc>,
) -> Result<(), StaffError> {
    if !by.may(Permission::Staff) {
        return Err(StaffError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let (role, custom) = match &grant {
        Grant::Role(r) => (*r, None),
        Grant::Custom(name) => {
            let found = custom_roles::Entity::find()
                .filter(custom_roles::Column::Name.eq(name.as_str()))
                .one(&txn)
                .await?
                .ok_or_else(|| StaffError::NoSuchRole(name.clone()))?;
            (Role::Custom, Some(found))
        }
    };
    if !by.role.may_assign(role) {
        return Err(StaffError::AboveYou(role));
    }
    let before = access_of(&txn, target).await?;
    if let Some(b) = &before {
        if !by.role.may_assign(b.role) {
            return Err(StaffError::AboveYou(b.role));
        }
        if b.role == Role::Owner && role != Role::Owner && owners(&txn).await? <= 1 {
            return Err(StaffError::LastOwner);
        }
    }
    put_in(
        &txn,
        target,
        role,
        custom.as_ref().map(|c| c.id),
        Some(by.who),
        false,
        now,
    )
    .await?;
    let after = custom
        .map(|c| c.name)
        .unwrap_or_else(|| role.as_str().to_string());
    Entry::new(Some(by.who), "staff.grant")
        .target(format!("staff:{target}"))
        .change(before.map_or("-".to_string(), |b| b.title()), after)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `by` takes `target`'s role away; whether they had one.
pub async fn revoke(
    db: &DatabaseConnection,
    by: &Access,
    target: TelegramId,
    now: DateTime<Utc>,
) -> Result<bool, StaffError> {
    if !by.may(Permission::Staff) {
        return Err(StaffError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let Some(before) = access_of(&txn, target).await? else {
        return Ok(false);
    };
    if !by.role.may_assign(before.role) {
        return Err(StaffError::AboveYou(before.role));
    }
    if before.role == Role::Owner && owners(&txn).await? <= 1 {
        return Err(StaffError::LastOwner);
    }
    staff::Entity::delete_many()
        .filter(staff::Column::TelegramId.eq(target))
        .exec(&txn)
        .await?;
    Entry::new(Some(by.who), "staff.revoke")
        .target(format!("staff:{target}"))
        .change(before.title(), "-")
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// An owner defines a custom role: a name and the permissions it carries.
pub async fn define_role(
    db: &DatabaseConnection,
    by: &Access,
    name: &str,
    permissions: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StaffError> {
    if by.role != Role::Owner {
        return Err(StaffError::AboveYou(Role::Owner));
    }
    let name = name.trim().to_ascii_lowercase();
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && Role::parse(&name).is_none();
    if !ok {
        return Err(StaffError::BadName);
    }
    let mut parsed: Vec<Permission> = Vec::new();
    for p in permissions {
        let p = Permission::parse(p.trim().to_ascii_lowercase().as_str())
            .ok_or_else(|| StaffError::UnknownPermission(p.to_string()))?;
        if !parsed.contains(&p) {
            parsed.push(p);
        }
    }
    if parsed.is_empty() {
        return Err(StaffError::NoPermissions);
    }
    let list = parsed
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let txn = crate::db::begin(db).await?;
    let exists = custom_roles::Entity::find()
        .filter(custom_roles::Column::Name.eq(name.as_str()))
        .count(&txn)
        .await?;
    if exists > 0 {
        return Err(StaffError::RoleExists(name));
    }
    custom_roles::Entity::insert(custom_roles::ActiveModel {
        name: Set(name.clone()),
        permissions: Set(list.clone()),
        created_by: Set(Some(by.who)),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
    Entry::new(Some(by.who), "staff.role.define")
        .target(format!("role:{name}"))
        .change("-", list)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// A named set of permissions an owner defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRole {
    pub id: i64,
    pub name: String,
    pub permissions: Vec<Permission>,
}

/// The custom roles, by name.
pub async fn custom_role_list(db: &impl ConnectionTrait) -> Result<Vec<CustomRole>, DbErr> {
    Ok(custom_roles::Entity::find()
        .order_by_asc(custom_roles::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|c| CustomRole {
            id: c.id,
            permissions: permissions_of(&c.permissions),
            name: c.name,
        })
        .collect())
}

async fn owners(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    staff::Entity::find()
        .filter(staff::Column::Role.eq(Role::Owner))
        .count(db)
        .await
}

async fn put_in(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
    role: Role,
    custom_role: Option<i64>,
    added_by: Option<TelegramId>,
    from_config: bool,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    staff::Entity::insert(staff::ActiveModel {
        telegram_id: Set(telegram_id),
        role: Set(role),
        custom_role_id: Set(custom_role),
        added_by: Set(added_by.map(TelegramId::get)),
        from_config: Set(from_config),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(staff::Column::TelegramId)
            .update_columns([
                staff::Column::Role,
                staff::Column::CustomRoleId,
                staff::Column::FromConfig,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Adds a staff member or changes their role from the server's shell (`vpnshop admin add`),
/// which has the owner's authority; audited without an actor.
pub async fn put(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    put_in(db, telegram_id, role, None, None, false, now).await?;
    Entry::new(None, "staff.grant")
        .target(format!("staff:{telegram_id}"))
        .change("?", role.as_str())
        .details("from the command line")
        .record(db, now)
        .await
}

/// Removes a staff member from the server's shell; whether they were one.
pub async fn remove(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = staff::Entity::delete_many()
        .filter(staff::Column::TelegramId.eq(telegram_id))
        .exec(db)
        .await?;
    if r.rows_affected > 0 {
        Entry::new(None, "staff.revoke")
            .target(format!("staff:{telegram_id}"))
            .details("from the command line")
            .record(db, now)
            .await?;
    }
    Ok(r.rows_affected > 0)
}

/// Makes `shop.admin_ids` the owners that came from the config: each is an owner, and an owner
/// who came from the config but is no longer in it loses the role. Returns those removed.
pub async fn sync_config_owners(
    db: &impl ConnectionTrait,
    ids: &[TelegramId],
    now: DateTime<Utc>,
) -> Result<Vec<TelegramId>, DbErr> {
    for id in ids {
        let current = staff::Entity::find()
            .filter(staff::Column::TelegramId.eq(*id))
            .one(db)
            .await?;
        if current.is_none_or(|c| c.role != Role::Owner || !c.from_config) {
            put_in(db, *id, Role::Owner, None, None, true, now).await?;
        }
    }
    let gone: Vec<TelegramId> = staff::Entity::find()
        .filter(staff::Column::FromConfig.eq(true))
        .filter(staff::Column::TelegramId.is_not_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.telegram_id)
        .collect();
    for id in &gone {
        staff::Entity::delete_many()
            .filter(staff::Column::TelegramId.eq(*id))
            .exec(db)
            .await?;
        Entry::new(None, "staff.revoke")
            .target(format!("staff:{id}"))
            .change("owner", "-")
            .details("removed from shop.admin_ids")
            .record(db, now)
            .await?;
    }
    Ok(gone)
}

/// One staff member as a list shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub access: Access,
    /// An owner because the id is in `shop.admin_ids`.
    pub from_config: bool,
}

/// Everyone on the staff, highest role first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Member>, DbErr> {
    let rows = staff::Entity::find()
        .order_by_asc(staff::Column::Id)
        .all(db)
        .await?;
    let mut all = Vec::with_capacity(rows.len());
    for row in rows {
        let from_config = row.from_config;
        all.push(Member {
            access: access_from(db, row).await?,
            from_config,
        });
    }
    all.sort_by_key(|m| std::cmp::Reverse(m.access.role));
    Ok(all)
}
