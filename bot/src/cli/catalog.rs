//! `vpnshop location …` and `vpnshop plan …`: setting up what customers buy from the terminal,
//! through the same core services the admin commands in the bot will use.
use std::io::Write;

use chrono::{DateTime, Utc};
use vpnshop_core::catalog::{self, CatalogError, LocationEdit, NewLocation, NewPlan, PlanEdit};
use vpnshop_core::ids::{CardId, LocationId};
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::payments::card::{self, CardNumber};
use vpnshop_core::sea_orm::DatabaseConnection;

#[derive(Clone, Debug, clap::Subcommand)]
pub enum LocationCommand {
    /// Add a location customers can pick, e.g. `vpnshop location add de --name Germany --flag 🇩🇪`.
    Add {
        /// A short code: letters, digits, `-` or `_` (e.g. `de`, `fi-helsinki`).
        code: String,
        /// The name customers see.
        #[arg(long)]
        name: String,
        /// An emoji flag shown before the name.
        #[arg(long, default_value = "")]
        flag: String,
        /// Lower comes first in the list.
        #[arg(long, default_value_t = 0)]
        sort: i32,
    },
    /// List locations with their state.
    List,
    /// Change a location's name, flag or place in the list.
    Edit {
        code: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        flag: Option<String>,
        #[arg(long)]
        sort: Option<i32>,
    },
    /// Stop selling in a location (existing subscriptions keep working).
    Disable { code: String },
    /// Sell in a location again.
    Enable { code: String },
    /// How a new account picks among the location's panels: `most_room` (capacity left, the
    /// default), `round_robin` (each in turn) or `fixed` (the first added while it has room).
    Placement { code: String, strategy: String },
}

#[derive(Clone, Debug, clap::Args)]
pub struct PlanTerms {
    /// The name customers see, e.g. "1 month".
    #[arg(long)]
    pub name: Option<String>,
    /// The location code it is sold in; `all` for every location.
    #[arg(long)]
    pub location: Option<String>,
    /// How many days it lasts.
    #[arg(long)]
    pub days: Option<i32>,
    /// Traffic in GB; `unlimited` for no limit.
    #[arg(long)]
    pub traffic: Option<String>,
    /// A price, as `150000:IRT` or `9.99:RUB`; repeat it for each currency.
    #[arg(long = "price")]
    pub prices: Vec<String>,
    /// Lower comes first in the list.
    #[arg(long)]
    pub sort: Option<i32>,
}

#[derive(Clone, Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Add a plan, e.g. `vpnshop plan add m1 --name "1 month" --location de --days 30
    /// --traffic 50 --price 150000:IRT`.
    Add {
        /// A short code: letters, digits, `-` or `_`.
        code: String,
        #[command(flatten)]
        terms: PlanTerms,
        /// The free trial plan (no price; name it in `sales.trial_plan`).
        #[arg(long)]
        trial: bool,
    },
    /// List plans with their terms, prices and state.
    List,
    /// Change a plan's terms or prices (orders already placed keep theirs).
    Edit {
        code: String,
        #[command(flatten)]
        terms: PlanTerms,
    },
    /// Stop selling a plan (existing subscriptions keep working).
    Disable { code: String },
    /// Sell a plan again.
    Enable { code: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogAdminError {
    #[error("--price `{0}` is not AMOUNT:CURRENCY (e.g. 150000:IRT, 9.99:RUB)")]
    BadPrice(String),
    #[error("--traffic `{0}` is not a number of GB or `unlimited`")]
    BadTraffic(String),
    #[error("--{0} is required")]
    Missing(&'static str),
    #[error("`{0}` is not a card number: 16 digits (spaces and dashes are fine)")]
    BadCardNumber(String),
    #[error("no card #{0}: see `vpnshop card list`")]
    NoSuchCard(i64),
    #[error("no location `{0}`: add it first with `vpnshop location add`")]
    NoSuchLocation(String),
    #[error("`{0}` is not a placement: most_room, round_robin or fixed")]
    BadPlacement(String),
    #[error("{0}")]
    Placement(String),
    #[error("no plan `{0}`: see `plan list`")]
    NoSuchPlan(String),
    #[error("no promo code `{0}`: see `promo list`")]
    NoSuchPromo(String),
    #[error("`{0}` is not a day like 2027-03-31")]
    BadDate(String),
    #[error("{0}")]
    Promo(vpnshop_core::promo::PromoError),
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("database: {0}")]
    Db(#[from] vpnshop_core::sea_orm::DbErr),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn parse_price(text: &str) -> Result<Money, CatalogAdminError> {
    let bad = || CatalogAdminError::BadPrice(text.to_string());
    let (amount, currency) = text.rsplit_once(':').ok_or_else(bad)?;
    let currency: Currency = currency.trim().parse().map_err(|_| bad())?;
    Money::parse(amount.trim(), currency)
        .ok()
        .filter(|m| m.minor() > 0)
        .ok_or_else(bad)
}

fn parse_traffic(text: &str) -> Result<Option<i64>, CatalogAdminError> {
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    match text.trim().parse::<i64>() {
        Ok(gb) if (1..=1_000_000).contains(&gb) => Ok(Some(gb << 30)),
        _ => Err(CatalogAdminError::BadTraffic(text.to_string())),
    }
}

async fn location_id(
    db: &DatabaseConnection,
    code: &str,
) -> Result<Option<LocationId>, CatalogAdminError> {
    if code.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    catalog::location_by_code(db, code)
        .await?
        .map(|l| Some(l.location_id()))
        .ok_or_else(|| CatalogAdminError::NoSuchLocation(code.to_string()))
}

pub async fn location(
    db: &DatabaseConnection,
    command: LocationCommand,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<(), CatalogAdminError> {
    match command {
        LocationCommand::Add {
            code,
            name,
            flag,
            sort,
        } => {
            let l = catalog::add_location(
                db,
                NewLocation {
                    code,
                    name,
                    flag,
                    sort_order: sort,
                },
                now,
            )
            .await?;
            writeln!(out, "added location {} ({} {})", l.code, l.flag, l.name)?;
        }
        LocationCommand::List => {
            let all = catalog::locations(db, false).await?;
            if all.is_empty() {
                writeln!(out, "no locations yet: add one with `vpnshop location add`")?;
            }
            for l in all {
                let state = if l.enabled { "on sale" } else { "disabled" };
                writeln!(
                    out,
                    "{:<12} {} {:<24} sort {:<4} {state:<9} placement {}",
                    l.code, l.flag, l.name, l.sort_order, l.placement
                )?;
            }
        }
        LocationCommand::Edit {
            code,
            name,
            flag,
            sort,
        } => {
            let l = catalog::edit_location(
                db,
                &code,
                LocationEdit {
                    name,
                    flag,
                    sort_order: sort,
                },
            )
            .await?;
            writeln!(out, "updated location {} ({} {})", l.code, l.flag, l.name)?;
        }
        LocationCommand::Disable { code } => {
            catalog::set_location_enabled(db, &code, false).await?;
            writeln!(out, "location {code} is no longer offered")?;
        }
        LocationCommand::Enable { code } => {
            catalog::set_location_enabled(db, &code, true).await?;
            writeln!(out, "location {code} is on sale again")?;
        }
        LocationCommand::Placement { code, strategy } => {
            let placement = vpnshop_core::panels::Placement::parse(strategy.trim())
                .ok_or(CatalogAdminError::BadPlacement(strategy))?;
            let l = catalog::location_by_code(db, &code)
                .await?
                .ok_or_else(|| CatalogAdminError::NoSuchLocation(code.clone()))?;
            vpnshop_core::panels::set_placement(db, None, l.location_id(), placement, now)
                .await
                .map_err(|e| CatalogAdminError::Placement(e.to_string()))?;
            writeln!(out, "new accounts in {code} now go by {placement}")?;
        }
    }
    Ok(())
}

pub async fn plan(
    db: &DatabaseConnection,
    command: PlanCommand,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<(), CatalogAdminError> {
    match command {
        PlanCommand::Add { code, terms, trial } => {
            let prices = terms
                .prices
                .iter()
                .map(|p| parse_price(p))
                .collect::<Result<Vec<_>, _>>()?;
            let location = match &terms.location {
                Some(code) => location_id(db, code).await?,
                None => return Err(CatalogAdminError::Missing("location")),
            };
            let plan = catalog::add_plan(
                db,
                NewPlan {
                    code,
                    name: terms.name.ok_or(CatalogAdminError::Missing("name"))?,
                    location,
                    duration_days: terms.days.ok_or(CatalogAdminError::Missing("days"))?,
                    traffic_bytes: parse_traffic(
                        terms
                            .traffic
                            .as_deref()
                            .ok_or(CatalogAdminError::Missing("traffic"))?,
                    )?,
                    is_trial: trial,
                    sort_order: terms.sort.unwrap_or(0),
                    prices,
                },
                now,
            )
            .await?;
            writeln!(out, "added plan {} ({})", plan.code, plan.name)?;
        }
        PlanCommand::List => {
            let plans = catalog::all_plans(db).await?;
            if plans.is_empty() {
                writeln!(out, "no plans yet: add one with `vpnshop plan add`")?;
            }
            let locations = catalog::locations(db, false).await?;
            for p in plans {
                let location = match p.location_id {
                    Some(id) => locations
                        .iter()
                        .find(|l| l.id == id)
                        .map(|l| l.code.clone())
                        .unwrap_or_default(),
                    None => "all".into(),
                };
                let traffic = p
                    .traffic_bytes
                    .map(|b| format!("{} GB", b >> 30))
                    .unwrap_or_else(|| "unlimited".into());
                let prices: Vec<String> = catalog::prices(db, p.plan_id())
                    .await?
                    .into_iter()
                    .map(|m| format!("{} {}", m.amount_text(), m.currency().code()))
                    .collect();
                let state = match (p.enabled, p.is_trial) {
                    (false, _) => "disabled",
                    (true, true) => "trial",
                    (true, false) => "on sale",
                };
                writeln!(
                    out,
                    "{:<12} {:<20} {:<8} {:>4} days  {:<10} {:<24} {state}",
                    p.code,
                    p.name,
                    location,
                    p.duration_days,
                    traffic,
                    prices.join(", ")
                )?;
            }
        }
        PlanCommand::Edit { code, terms } => {
            let prices = terms
                .prices
                .iter()
                .map(|p| parse_price(p))
                .collect::<Result<Vec<_>, _>>()?;
            let location = match &terms.location {
                Some(code) => Some(location_id(db, code).await?),
                None => None,
            };
            let traffic = terms.traffic.as_deref().map(parse_traffic).transpose()?;
            let plan = catalog::edit_plan(
                db,
                &code,
                PlanEdit {
                    name: terms.name,
                    location,
                    duration_days: terms.days,
                    traffic_bytes: traffic,
                    sort_order: terms.sort,
                    prices,
                },
            )
            .await?;
            writeln!(out, "updated plan {} ({})", plan.code, plan.name)?;
        }
        PlanCommand::Disable { code } => {
            catalog::set_plan_enabled(db, &code, false).await?;
            writeln!(out, "plan {code} is no longer sold")?;
        }
        PlanCommand::Enable { code } => {
            catalog::set_plan_enabled(db, &code, true).await?;
            writeln!(out, "plan {code} is on sale again")?;
        }
    }
    Ok(())
}

/// `vpnshop card …`: the bank cards customers pay to by card-to-card transfer.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum CardCommand {
    /// Add a card, e.g. `vpnshop card add "6037-9911-2233-4455" --holder "Ali Rezaei" --bank Melli`.
    Add {
        number: String,
        /// The name on the card, shown to customers so they can check before transferring.
        #[arg(long)]
        holder: String,
        #[arg(long, default_value = "")]
        bank: String,
    },
    /// List cards, how often each was shown, and whether it is in use.
    List,
    /// Stop showing a card (pending transfers to it still count).
    Disable { id: i64 },
    /// Show a card again.
    Enable { id: i64 },
}

pub async fn card(
    db: &DatabaseConnection,
    command: CardCommand,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<(), CatalogAdminError> {
    match command {
        CardCommand::Add {
            number,
            holder,
            bank,
        } => {
            let parsed =
                CardNumber::parse(&number).ok_or(CatalogAdminError::BadCardNumber(number))?;
            if holder.trim().is_empty() {
                return Err(CatalogAdminError::Missing("holder"));
            }
            let c = card::add_card(db, &parsed, &holder, &bank, now).await?;
            writeln!(out, "added card #{} {} ({})", c.id, c.number, c.holder)?;
        }
        CardCommand::List => {
            let all = card::cards(db).await?;
            if all.is_empty() {
                writeln!(out, "no cards yet: add one with `vpnshop card add`")?;
            }
            for c in all {
                let state = if c.enabled { "in use" } else { "disabled" };
                writeln!(
                    out,
                    "#{:<4} {} {:<24} {:<12} shown {:<6} {state}",
                    c.id, c.number, c.holder, c.bank, c.times_shown
                )?;
            }
        }
        CardCommand::Disable { id } | CardCommand::Enable { id } => {
            let on = matches!(command, CardCommand::Enable { .. });
            if !card::set_card_enabled(db, CardId::new(id), on).await? {
                return Err(CatalogAdminError::NoSuchCard(id));
            }
            writeln!(
                out,
                "card #{id} {}",
                if on { "enabled" } else { "disabled" }
            )?;
        }
    }
    Ok(())
}

#[derive(Clone, Debug, clap::Subcommand)]
pub enum PromoCommand {
    /// Add a code, e.g. `promo add NOWRUZ --percent 20 --uses 100 --until 2027-03-31`.
    Add {
        code: String,
        /// A percentage off (1–100) …
        #[arg(long)]
        percent: Option<u8>,
        /// … or an amount off, AMOUNT:CURRENCY (`20000:IRT`).
        #[arg(long)]
        amount: Option<String>,
        /// … or days added to the plan at the full price …
        #[arg(long)]
        extra_days: Option<i32>,
        /// … or GB added to the plan's traffic at the full price.
        #[arg(long)]
        extra_gb: Option<i64>,
        /// Only for this plan (its code).
        #[arg(long)]
        plan: Option<String>,
        /// Only in this location (its code).
        #[arg(long)]
        location: Option<String>,
        /// Only for customers who have never bought.
        #[arg(long)]
        first_purchase: bool,
        /// Uses in all.
        #[arg(long)]
        uses: Option<i32>,
        /// Uses per customer.
        #[arg(long, default_value_t = 1)]
        per_customer: i32,
        /// The last day it works (YYYY-MM-DD, UTC).
        #[arg(long)]
        until: Option<String>,
    },
    /// Codes, their uses and what they brought in.
    List,
    Disable {
        code: String,
    },
    Enable {
        code: String,
    },
}

pub async fn promo(
    db: &DatabaseConnection,
    command: PromoCommand,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<(), CatalogAdminError> {
    use vpnshop_core::promo::{self, Discount, NewPromo};
    match command {
        PromoCommand::Add {
            code,
            percent,
            amount,
            extra_days,
            extra_gb,
            plan,
            location,
            first_purchase,
            uses,
            per_customer,
            until,
        } => {
            let discount = match (percent, amount, extra_days, extra_gb) {
                (Some(p), None, None, None) => Discount::Percent(p),
                (None, Some(a), None, None) => Discount::Amount(parse_price(&a)?),
                (None, None, Some(d), None) => Discount::ExtraDays(d),
                (None, None, None, Some(g)) => Discount::ExtraGb(g),
                _ => {
                    return Err(CatalogAdminError::Missing(
                        "one of --percent, --amount, --extra-days or --extra-gb",
                    ));
                }
            };
            let location = match location {
                Some(code) => location_id(db, &code).await?,
                None => None,
            };
            let plan = match plan {
                Some(code) => Some(
                    catalog::plan_by_code(db, &code)
                        .await?
                        .map(|p| p.id)
                        .ok_or(CatalogAdminError::NoSuchPlan(code))?,
                ),
                None => None,
            };
            let valid_until = match until {
                Some(day) => Some(
                    chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(23, 59, 59))
                        .map(|t| t.and_utc())
                        .ok_or(CatalogAdminError::BadDate(day))?,
                ),
                None => None,
            };
            let p = promo::add(
                db,
                NewPromo {
                    code,
                    discount,
                    plan,
                    max_uses: uses,
                    per_customer_limit: per_customer,
                    valid_until,
                    location,
                    first_purchase_only: first_purchase,
                },
                now,
            )
            .await
            .map_err(CatalogAdminError::Promo)?;
            writeln!(out, "added promo code {}", p.code)?;
        }
        PromoCommand::List => {
            let all = promo::list(db).await?;
            if all.is_empty() {
                writeln!(out, "no promo codes yet: add one with `promo add`")?;
            }
            let revenue = promo::revenue(db).await?;
            for p in all {
                let mut off = match (p.percent_off, p.amount_off_minor, p.currency) {
                    (Some(pc), _, _) => format!("{pc}%"),
                    (None, Some(a), Some(c)) => {
                        Money::new(a, c).map(|m| m.to_string()).unwrap_or_default()
                    }
                    _ => match (p.extra_days, p.extra_bytes) {
                        (Some(d), _) => format!("+{d} days"),
                        (None, Some(b)) => format!("+{} GB", b >> 30),
                        _ => String::new(),
                    },
                };
                if p.first_purchase_only {
                    off.push_str(" first purchase");
                }
                let brought: Vec<String> = revenue
                    .iter()
                    .filter(|(id, _, _)| *id == p.id)
                    .filter_map(|(_, c, s)| Money::new(*s, *c).ok())
                    .map(|m| m.to_string())
                    .collect();
                writeln!(
                    out,
                    "{:<12} {:<10} used {}{} {} {}",
                    p.code,
                    off,
                    p.uses,
                    p.max_uses.map(|m| format!("/{m}")).unwrap_or_default(),
                    if p.enabled { "on" } else { "off" },
                    if brought.is_empty() {
                        "no sales".to_string()
                    } else {
                        brought.join(", ")
                    },
                )?;
            }
        }
        PromoCommand::Disable { code } => set_promo(db, &code, false, out).await?,
        PromoCommand::Enable { code } => set_promo(db, &code, true, out).await?,
    }
    Ok(())
}

async fn set_promo(
    db: &DatabaseConnection,
    code: &str,
    on: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), CatalogAdminError> {
    if !vpnshop_core::promo::set_enabled(db, code, on).await? {
        return Err(CatalogAdminError::NoSuchPromo(code.to_string()));
    }
    let state = if on { "works again" } else { "no longer works" };
    writeln!(out, "promo code {} {state}", code.to_ascii_uppercase())?;
    Ok(())
}
