//! What a customer is told when the shop says no. One table, here, from every core error that
//! is a refusal (an expired order, a used-up promo code, not enough in the wallet) to the locale
//! key that explains it; any other error is ours: logged, and apologized for with
//! `errors.internal`. Handlers use `?`; the router says the refusal in the customer's language.
use vpnshop_core::adjustments::{AdjustError, RefundError};
use vpnshop_core::customers::Language;
use vpnshop_core::gifts::GiftError;
use vpnshop_core::ledger::LedgerError;
use vpnshop_core::maintenance::MaintenanceError;
use vpnshop_core::orders::{OrderError, OrderStatus};
use vpnshop_core::overrides::OverrideError;
use vpnshop_core::panels::PanelChangeError;
use vpnshop_core::payments::CheckoutError;
use vpnshop_core::payments::card::CardError;
use vpnshop_core::payments::gateways::PayError;
use vpnshop_core::payments::rates::RateError;
use vpnshop_core::payments::review::ReviewError;
use vpnshop_core::profiles::BanError;
use vpnshop_core::promo::PromoError;
use vpnshop_core::staff::StaffError;
use vpnshop_core::staff_messages::StaffMessageError;
use vpnshop_core::subscriptions::SubscriptionError;
use vpnshop_core::subscriptions::switch::SwitchError;
use vpnshop_core::tickets::TicketError;
use vpnshop_core::trial::TrialError;

use crate::errors::BotError;
use crate::text::tr_with;

/// A refusal: the locale key that explains it, with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Refusal {
    pub fn new(key: &'static str) -> Self {
        Refusal {
            key,
            args: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    /// The refusal in `lang`.
    pub fn render(&self, lang: Language) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        tr_with(lang, self.key, &args)
    }
}

/// The refusal `e` is, if it is one.
pub fn of(e: impl Into<BotError>) -> Option<Refusal> {
    match e.into() {
        BotError::Refused(r) => Some(r),
        _ => None,
    }
}

fn refused(key: &'static str) -> BotError {
    BotError::Refused(Refusal::new(key))
}

fn internal(e: impl std::fmt::Display) -> BotError {
    BotError::Service(e.to_string())
}

impl From<PromoError> for BotError {
    fn from(e: PromoError) -> Self {
        match e {
            PromoError::Unknown => refused("promo.unknown"),
            PromoError::Expired => refused("promo.expired"),
            PromoError::UsedUp => refused("promo.used_up"),
            PromoError::AlreadyUsed => refused("promo.already_used"),
            PromoError::OtherPlan => refused("promo.other_plan"),
            PromoError::OtherLocation => refused("promo.other_location"),
            PromoError::NotFirstPurchase => refused("promo.first_purchase"),
            PromoError::OtherCurrency | PromoError::BadDiscount | PromoError::Duplicate => {
                refused("promo.unknown")
            }
            PromoError::Db(_) => internal(e),
        }
    }
}

impl From<OrderError> for BotError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound | OrderError::NotYours => refused("errors.stale_button"),
            OrderError::PlanUnavailable | OrderError::NoPrice(_) => refused("buy.plan_gone"),
            OrderError::NotPending(OrderStatus::Expired | OrderStatus::Cancelled)
            | OrderError::QuoteExpired => refused("checkout.expired"),
            OrderError::NotPending(_) => refused("checkout.already_paid"),
            OrderError::PointsNotAccepted(_) => refused("checkout.points_off"),
            OrderError::Promo(p) => p.into(),
            OrderError::Points(_) => refused("checkout.points_changed"),
            OrderError::Ledger(LedgerError::InsufficientBalance { .. }) => {
                refused("checkout.not_enough")
            }
            OrderError::Ledger(_) => internal(e),
            OrderError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<SubscriptionError> for BotError {
    fn from(e: SubscriptionError) -> Self {
        match e {
            SubscriptionError::NotFound | SubscriptionError::NoSuchPack(_) => {
                refused("errors.stale_button")
            }
            SubscriptionError::NotActive => refused("subs.not_active"),
            SubscriptionError::PlanGone => refused("subs.plan_gone"),
            SubscriptionError::Unlimited => refused("subs.unlimited"),
            SubscriptionError::Order(e) => internal(e),
            SubscriptionError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<SwitchError> for BotError {
    fn from(e: SwitchError) -> Self {
        match e {
            SwitchError::NotOffered | SwitchError::NotFound => refused("errors.stale_button"),
            SwitchError::NotMovable => refused("moves.not_movable"),
            SwitchError::TooSoon(at) => BotError::Refused(
                Refusal::new("moves.too_soon").with("date", crate::text::date(at)),
            ),
            SwitchError::InProgress => refused("moves.in_progress"),
            SwitchError::NoSuchLocation => refused("moves.no_location"),
            SwitchError::Order(e) => e.into(),
            SwitchError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<TrialError> for BotError {
    fn from(e: TrialError) -> Self {
        match e {
            TrialError::NotOffered => refused("trial.not_offered"),
            TrialError::AlreadyTaken => refused("trial.already_taken"),
            TrialError::AlreadyBought => refused("trial.already_bought"),
            TrialError::NoRoom => refused("trial.no_room"),
            TrialError::Order(e) => internal(e),
            TrialError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<CheckoutError> for BotError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::WalletCovers => refused("pay.wallet_covers"),
            CheckoutError::NotPending(_) => refused("checkout.already_paid"),
            CheckoutError::QuoteExpired => refused("checkout.expired"),
            CheckoutError::Db(e) => BotError::Db(e),
            CheckoutError::NoSuchOrder | CheckoutError::NotYours | CheckoutError::BadAmount => {
                refused("errors.stale_button")
            }
        }
    }
}

impl From<PayError> for BotError {
    fn from(e: PayError) -> Self {
        match e {
            PayError::Gateway(_) => refused("pay.gateway_down"),
            PayError::TooManyPending(max) => {
                BotError::Refused(Refusal::new("pay.too_many_open").with("max", max))
            }
            PayError::Currency(_)
            | PayError::NoRate(_)
            | PayError::Checkout(CheckoutError::BadAmount) => refused("pay.not_this_way"),
            PayError::Checkout(CheckoutError::Db(e)) => BotError::Db(e),
            PayError::Checkout(_) => refused("errors.stale_button"),
            PayError::Db(e) => BotError::Db(e),
        }
    }
}

/// A customer's card-to-card transfer and receipt (the staff side has its own answers).
impl From<CardError> for BotError {
    fn from(e: CardError) -> Self {
        match e {
            CardError::NoCard => refused("errors.stale_button"),
            CardError::NoFreeAmount => refused("pay.card_busy"),
            CardError::TooManyPending(max) => {
                BotError::Refused(Refusal::new("pay.card_too_many").with("max", max))
            }
            CardError::AlreadySubmitted => refused("pay.receipt_already"),
            CardError::NotYourTransfer => refused("pay.receipt_closed"),
            CardError::Checkout(e) => e.into(),
            other => internal(other),
        }
    }
}

impl From<TicketError> for BotError {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::Empty => refused("support.hint_empty"),
            TicketError::TooLong => refused("support.hint_long"),
            TicketError::Closed | TicketError::NotFound => refused("support.closed"),
            TicketError::AlreadyRated => refused("support.already_rated"),
            TicketError::NotAllowed | TicketError::StillOpen => refused("errors.stale_button"),
            TicketError::TooMany(max) => {
                BotError::Refused(Refusal::new("support.too_many").with("max", max))
            }
            TicketError::Db(e) => BotError::Db(e),
        }
    }
}

/// The text key a staff member is told when a ticket action (take, answer, close) changes
/// nothing; `None` when there is nothing to say (the ticket is gone); anything else is ours.
pub fn for_staff_ticket(e: TicketError) -> Result<Option<&'static str>, BotError> {
    Ok(Some(match e {
        TicketError::Closed => "support.staff_closed",
        TicketError::Empty | TicketError::TooLong | TicketError::TooMany(_) => "support.staff_bad",
        TicketError::NotAllowed => "support.staff_only",
        TicketError::StillOpen | TicketError::AlreadyRated => "errors.stale_button",
        TicketError::NotFound => return Ok(None),
        TicketError::Db(e) => return Err(BotError::Db(e)),
    }))
}

/// What a staff member is told (as the button's toast) when their decision on a card-to-card
/// receipt changes nothing; anything else is ours.
pub fn for_staff_receipt(e: CardError) -> Result<Refusal, BotError> {
    let key = match e {
        CardError::NotAllowed => "receipt.not_allowed",
        CardError::AlreadyDecided(_) => "receipt.already_decided",
        CardError::SameApprover => "receipt.same_approver",
        CardError::OwnPayment => "receipt.own_payment",
        CardError::NoSuchReceipt => "errors.stale_button",
        other => return Err(internal(other)),
    };
    Ok(Refusal::new(key))
}

/// What a staff member is told when their decision on a payment in review changes nothing.
pub fn for_staff_review(e: ReviewError) -> Result<Refusal, BotError> {
    let key = match e {
        ReviewError::OwnPayment => "payment.review_own",
        ReviewError::SameApprover => "receipt.same_approver",
        ReviewError::NotAllowed => "payment.review_not_allowed",
        ReviewError::AlreadyDecided(_) => "payment.review_already",
        ReviewError::NotComparable => "payment.review_not_comparable",
        ReviewError::NoSuchPayment => "errors.stale_button",
        ReviewError::Ledger(e) => return Err(internal(e)),
        ReviewError::Db(e) => return Err(BotError::Db(e)),
    };
    Ok(Refusal::new(key))
}

impl From<StaffError> for BotError {
    fn from(e: StaffError) -> Self {
        use StaffError::*;
        let r = match e {
            NotAllowed => Refusal::new("admin.not_allowed").with("role", "—"),
            AboveYou(role) => Refusal::new("admin.staff.above_you").with("role", role),
            LastOwner => Refusal::new("admin.staff.last_owner"),
            NoSuchRole(name) => {
                Refusal::new("admin.role.no_such").with("name", crate::text::escape(&name))
            }
            BadName => Refusal::new("admin.role.bad_name"),
            NoPermissions => Refusal::new("admin.role.no_permissions"),
            UnknownPermission(p) => Refusal::new("admin.role.unknown_permission")
                .with("permission", crate::text::escape(&p)),
            RoleExists(name) => {
                Refusal::new("admin.role.exists").with("name", crate::text::escape(&name))
            }
            Db(e) => return BotError::Db(e),
        };
        BotError::Refused(r)
    }
}

impl From<AdjustError> for BotError {
    fn from(e: AdjustError) -> Self {
        match e {
            AdjustError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            AdjustError::NoReason | AdjustError::Zero => refused("admin.customers.bad_amount"),
            AdjustError::WouldGoNegative(m) => BotError::Refused(
                Refusal::new("admin.customers.would_go_negative").with("balance", m),
            ),
            AdjustError::AlreadyMade => refused("admin.customers.already_made"),
            AdjustError::NotEnoughPoints(have) => {
                BotError::Refused(Refusal::new("admin.points.not_enough").with("points", have))
            }
            AdjustError::Ledger(_) => internal(e),
            AdjustError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<GiftError> for BotError {
    fn from(e: GiftError) -> Self {
        match e {
            GiftError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            GiftError::NoReason | GiftError::OutOfRange => refused("admin.gifts.bad"),
            GiftError::NotActive | GiftError::NotFound => refused("admin.gifts.not_active"),
            GiftError::Unlimited => refused("admin.gifts.unlimited"),
            GiftError::Order(e) => e.into(),
            GiftError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<StaffMessageError> for BotError {
    fn from(e: StaffMessageError) -> Self {
        match e {
            StaffMessageError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            StaffMessageError::Empty | StaffMessageError::TooLong => BotError::Refused(
                Refusal::new("admin.messages.bad")
                    .with("max", vpnshop_core::staff_messages::MAX_TEXT),
            ),
            StaffMessageError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<RateError> for BotError {
    fn from(e: RateError) -> Self {
        match e {
            RateError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            RateError::NotPositive | RateError::SameCurrency(_) => refused("admin.rates.bad"),
            RateError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<PanelChangeError> for BotError {
    fn from(e: PanelChangeError) -> Self {
        match e {
            PanelChangeError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            PanelChangeError::BadCapacity => refused("admin.panels.bad_capacity"),
            PanelChangeError::NotFound => refused("errors.stale_button"),
            PanelChangeError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<BanError> for BotError {
    fn from(e: BanError) -> Self {
        match e {
            BanError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            BanError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<MaintenanceError> for BotError {
    fn from(e: MaintenanceError) -> Self {
        match e {
            MaintenanceError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            MaintenanceError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<OverrideError> for BotError {
    fn from(e: OverrideError) -> Self {
        match e {
            OverrideError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            OverrideError::BadChannel => refused("admin.settings.bad_channel"),
            OverrideError::NotATrialPlan(_) => refused("admin.settings.no_trial_plans"),
            OverrideError::TooLong => BotError::Refused(
                Refusal::new("admin.settings.too_long")
                    .with("max", vpnshop_core::overrides::MAX_TEXT),
            ),
            OverrideError::Db(e) => BotError::Db(e),
        }
    }
}

impl From<RefundError> for BotError {
    fn from(e: RefundError) -> Self {
        match e {
            RefundError::NotAllowed => {
                BotError::Refused(Refusal::new("admin.not_allowed").with("role", "—"))
            }
            RefundError::NotRefundable => refused("admin.customers.not_refundable"),
            RefundError::AlreadyRefunded => refused("admin.customers.already_refunded"),
            RefundError::Db(e) => BotError::Db(e),
            RefundError::Rewards(_) | RefundError::Points(_) | RefundError::Ledger(_) => {
                internal(e)
            }
        }
    }
}
