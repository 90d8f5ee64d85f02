//! Callback data: a short typed token naming an action and, where needed, a typed id. It never
//! carries a price, an amount or authority: handlers reload what it names and check that it
//! belongs to the presser (or that the presser's role allows it) and can still be acted on.
//! Buttons come in three families, one per kind of presser: [`Action`] for customers,
//! [`StaffAction`] for the staff chat, [`AdminAction`] for admins.
use vpnshop_core::broadcasts::Control;
use vpnshop_core::customers::Language;
use vpnshop_core::ids::{
    BroadcastId, CardId, CustomerId, LocationId, OrderId, PanelId, PaymentId, PlanId, PromoCodeId,
    ReceiptId, SubscriptionId, TelegramId, TicketId,
};
use vpnshop_core::payments::Provider;
use vpnshop_core::staff::Role;

/// Telegram refuses callback data longer than this.
pub const MAX_LEN: usize = 64;

/// The platforms connection guides exist for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Android,
    Ios,
    Windows,
    Macos,
    Linux,
}

impl Platform {
    pub const ALL: [Platform; 5] = [
        Platform::Android,
        Platform::Ios,
        Platform::Windows,
        Platform::Macos,
        Platform::Linux,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Menu,
    LanguageMenu,
    SetLanguage(Language),
    Wallet,
    /// A page of wallet history (0 = newest).
    WalletPage(u32),
    Invite,
    Help,
    Guides,
    Guide(Platform),
    /// Buy: pick a location.
    Buy,
    BuyLocation(LocationId),
    /// (location, plan)
    BuyPlan(LocationId, PlanId),
    PayWallet(OrderId),
    PayStars(OrderId),
    Promo(OrderId),
    UsePoints(OrderId),
    CancelOrder(OrderId),
    Trial,
    Subscriptions,
    /// Page `n` (from 0) of the customer's subscriptions.
    SubscriptionsPage(u32),
    Subscription(SubscriptionId),
    SubscriptionQr(SubscriptionId),
    Renew(SubscriptionId),
    Traffic(SubscriptionId),
    /// (subscription, GB)
    TrafficPack(SubscriptionId, i64),
    /// Turn automatic renewal from the wallet on (`true`) or off.
    AutoRenew(SubscriptionId, bool),
    /// Move a subscription to another location: pick one, …
    Move(SubscriptionId),
    /// … see what the move does, …
    MoveTo(SubscriptionId, LocationId),
    /// … and confirm it (checked again when it runs).
    MoveConfirm(SubscriptionId, LocationId),
    TopUp,
    TopUpStars(i64),
    Points,
    Support,
    NewTicket,
    Ticket(TicketId),
    TicketWrite(TicketId),
    TicketClose(TicketId),
    /// Rate a closed ticket's answer, 1–5 (checked again when it runs).
    TicketRate(TicketId, u8),
    /// Pay an order's rest by card-to-card or a gateway.
    PayVia(OrderId, Provider),
    /// Top the wallet up by card-to-card or a gateway (the amount is typed next).
    TopUpVia(Provider),
    /// "I have paid": check this payment with its gateway.
    CheckPayment(PaymentId),
}

/// A button in the staff chat. Whoever presses it, their role is checked when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffAction {
    /// Approve or reject a card-to-card receipt.
    ReceiptApprove(ReceiptId),
    ReceiptReject(ReceiptId),
    /// Settle a payment in review: credit what arrived, credit in full, or decline.
    ReviewCreditReceived(PaymentId),
    ReviewCreditFull(PaymentId),
    ReviewDecline(PaymentId),
    /// Take a ticket (so the others see it is being answered), or close it.
    TicketTake(TicketId),
    TicketClose(TicketId),
}

/// A button on an admin screen. It names what the presser asks for; whether they may is read
/// from the staff table when it runs (`handlers/admin/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    Menu,
    Stats,
    Staff,
    /// Start adding a staff member (asks who).
    StaffAdd,
    /// Give this person this role.
    StaffGrant(TelegramId, RoleChoice),
    StaffRevoke(TelegramId),
    /// A page of the audit log, newest first.
    Audit(u32, AuditFilter),
    /// Find a customer (asks who).
    Customers,
    /// A customer's card.
    Customer(CustomerId),
    /// Correct a customer's wallet (asks the amount and the reason).
    AdjustWallet(CustomerId),
    /// Apply the correction previewed for this customer (the amount is the server's, from the
    /// preview, never the button's).
    ConfirmAdjust(CustomerId),
    /// Ban (true) or unban a customer.
    Ban(CustomerId, bool),
    /// Send the customer their subscription's link and QR code again.
    ResendLink(SubscriptionId),
    /// Preview refunding a fulfilled order to the wallet; then do it.
    Refund(OrderId),
    ConfirmRefund(OrderId),
    /// A page of the support queue: open tickets, oldest first.
    Tickets(u32),
    /// One ticket: its latest messages, who took it, and what can be done.
    Ticket(TicketId),
    TicketTake(TicketId),
    /// Answer the ticket (asks for the text).
    TicketReply(TicketId),
    TicketClose(TicketId),
    /// Correct a customer's points (asks the number and the reason).
    AdjustPoints(CustomerId),
    /// Give a subscription days or traffic (asks what), then confirm the previewed gift.
    Gift(SubscriptionId),
    ConfirmGift(SubscriptionId),
    /// Write to a customer (asks the text).
    Message(CustomerId),
    /// The catalog screen; a location's or a plan's Disable / Enable.
    Catalog,
    LocationEnabled(LocationId, bool),
    PlanEnabled(PlanId, bool),
    /// The payments screen (cards, receipts waiting); a card's Disable / Enable.
    Payments,
    CardEnabled(CardId, bool),
    /// The promo codes screen; a code's Disable / Enable.
    Promos,
    PromoEnabled(PromoCodeId, bool),
    /// The panels screen; one panel; its doctor; Disable / Enable; its capacity (asks it).
    Panels,
    Panel(PanelId),
    PanelCheck(PanelId),
    PanelEnabled(PanelId, bool),
    PanelCapacity(PanelId),
    /// The settings screen.
    Settings,
    /// The jobs screen.
    Jobs,
    /// Reconciliation: the dry-run diff; repair one subscription's item (missing / differs);
    /// turn off one unknown account; repair everything found (each read again first).
    Reconcile,
    RepairSub(SubscriptionId, bool),
    /// (panel, customer, subscription) of an account named by this shop's pattern: the server
    /// derives the name itself.
    RepairUnknown(PanelId, i64, i64),
    RepairAll,
    /// Turn maintenance mode on (true) or off.
    SetMaintenance(bool),
    /// Set the required channel (asks for it), or have none.
    AskChannel,
    ChannelOff,
    /// The trial plans to choose from; then the choice.
    TrialPlans,
    SetTrial(TrialPick),
    /// Write the help text in a language (asks for it).
    AskHelp(Language),
    /// The broadcasts screen; start composing one (asks for the message).
    Broadcasts,
    BroadcastNew,
    /// Choose who the draft goes to (the draft itself is the server's).
    BroadcastAudience(AudiencePick),
    /// Add a button under the draft, or remove them.
    BroadcastExtra(ExtraPick),
    /// Send the draft as previewed; or drop it.
    BroadcastConfirm,
    BroadcastDiscard,
    /// A broadcast's progress; pause, resume or cancel it; edit or delete it for everyone
    /// (asks first).
    BroadcastShow(BroadcastId),
    BroadcastControl(BroadcastId, Control),
    BroadcastEdit(BroadcastId),
    BroadcastDelete(BroadcastId, bool),
    /// The reports screen; the charts of the last N days; a CSV export of the last 30 days.
    Reports,
    Report(u32),
    Export(Export),
}

/// What a CSV export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Orders,
    Payments,
    Customers,
}

/// An audience choice on the broadcast draft: some are answered at once, some ask for more
/// (days, ids) or list what to pick from (languages, locations, plans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudiencePick {
    All,
    Active,
    Expiring,
    Expired,
    TrialOnly,
    NeverBought,
    Languages,
    Language(Language),
    Locations,
    Location(LocationId),
    Plans,
    Plan(PlanId),
    Ids,
}

/// A button to put under a broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraPick {
    Shop,
    Renew,
    /// A link (asks for its label and address).
    Url,
    /// Remove them all.
    Clear,
}

/// Which free trial a settings button picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialPick {
    Plan(PlanId),
    Off,
    /// Whatever `sales.trial_plan` in the config says.
    Config,
}

/// A role a grant button offers: a fixed one, or a custom role by its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleChoice {
    Fixed(Role),
    Custom(i64),
}

/// Which audit rows a page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFilter {
    All,
    /// Actions of one kind (`staff`, `receipt`, `payment`, `admin`).
    Kind(AuditKind),
    /// What one staff member did.
    Actor(TelegramId),
    /// What concerned one customer.
    Customer(CustomerId),
}

/// The kinds the audit screen offers as buttons (`/audit <kind>` takes any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditKind {
    Staff,
    Receipt,
    Payment,
    Ticket,
    Admin,
}

impl AuditKind {
    pub const ALL: [AuditKind; 5] = [
        AuditKind::Staff,
        AuditKind::Receipt,
        AuditKind::Payment,
        AuditKind::Ticket,
        AuditKind::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Staff => "staff",
            AuditKind::Receipt => "receipt",
            AuditKind::Payment => "payment",
            AuditKind::Ticket => "ticket",
            AuditKind::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Any button, by family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Button {
    Customer(Action),
    Staff(StaffAction),
    Admin(AdminAction),
}

impl Action {
    pub fn encode(self) -> String {
        use Action::*;
        let s = match self {
            Menu => "m".to_string(),
            LanguageMenu => "L".to_string(),
            SetLanguage(l) => format!("l:{}", l.code()),
            Wallet => "w".to_string(),
            WalletPage(p) => format!("w:{p}"),
            Invite => "i".to_string(),
            Help => "h".to_string(),
            Guides => "g".to_string(),
            Guide(p) => format!("g:{}", p.code()),
            Buy => "b".to_string(),
            BuyLocation(l) => format!("bl:{l}"),
            BuyPlan(l, p) => format!("bp:{l}:{p}"),
            PayWallet(o) => format!("ow:{o}"),
            PayStars(o) => format!("os:{o}"),
            Promo(o) => format!("op:{o}"),
            UsePoints(o) => format!("ot:{o}"),
            CancelOrder(o) => format!("oc:{o}"),
            Trial => "t".to_string(),
            Subscriptions => "s".to_string(),
            SubscriptionsPage(p) => format!("sl:{p}"),
            Subscription(s) => format!("s:{s}"),
            SubscriptionQr(s) => format!("sq:{s}"),
            Renew(s) => format!("sr:{s}"),
            Traffic(s) => format!("st:{s}"),
            TrafficPack(s, gb) => format!("sp:{s}:{gb}"),
            AutoRenew(s, on) => format!("sa:{s}:{}", u8::from(on)),
            Move(s) => format!("sm:{s}"),
            MoveTo(s, l) => format!("smt:{s}:{l}"),
            MoveConfirm(s, l) => format!("smc:{s}:{l}"),
            TopUp => "u".to_string(),
            TopUpStars(n) => format!("u:{n}"),
            Points => "p".to_string(),
            Support => "k".to_string(),
            NewTicket => "kn".to_string(),
            Ticket(t) => format!("k:{t}"),
            TicketWrite(t) => format!("kw:{t}"),
            TicketClose(t) => format!("kc:{t}"),
            TicketRate(t, n) => format!("kr:{t}:{n}"),
            PayVia(o, p) => format!("ov:{o}:{p}"),
            TopUpVia(p) => format!("uv:{p}"),
            CheckPayment(p) => format!("pc:{p}"),
        };
        debug_assert!(s.len() <= MAX_LEN);
        s
    }

    /// The one place callback data is parsed. Unknown or malformed data is `None`: an old
    /// button from an earlier version, or a forged one.
    pub fn decode(data: &str) -> Option<Action> {
        use Action::*;
        let (tag, args) = split(data)?;
        let id = |i: usize| number(&args, i);
        let action = match (tag, args.len()) {
            ("m", 0) => Menu,
            ("L", 0) => LanguageMenu,
            ("l", 1) => SetLanguage(Language::parse(args[0])?),
            ("w", 0) => Wallet,
            ("w", 1) if args[0] == "0" => WalletPage(0),
            ("w", 1) => WalletPage(u32::try_from(id(0)?).ok()?),
            ("i", 0) => Invite,
            ("h", 0) => Help,
            ("g", 0) => Guides,
            ("g", 1) => Guide(Platform::parse(args[0])?),
            ("b", 0) => Buy,
            ("bl", 1) => BuyLocation(LocationId::new(id(0)?)),
            ("bp", 2) => BuyPlan(LocationId::new(id(0)?), PlanId::new(id(1)?)),
            ("ow", 1) => PayWallet(OrderId::new(id(0)?)),
            ("os", 1) => PayStars(OrderId::new(id(0)?)),
            ("op", 1) => Promo(OrderId::new(id(0)?)),
            ("ot", 1) => UsePoints(OrderId::new(id(0)?)),
            ("oc", 1) => CancelOrder(OrderId::new(id(0)?)),
            ("t", 0) => Trial,
            ("s", 0) => Subscriptions,
            ("sl", 1) if args[0] == "0" => SubscriptionsPage(0),
            ("sl", 1) => SubscriptionsPage(u32::try_from(id(0)?).ok()?),
            ("s", 1) => Subscription(SubscriptionId::new(id(0)?)),
            ("sq", 1) => SubscriptionQr(SubscriptionId::new(id(0)?)),
            ("sr", 1) => Renew(SubscriptionId::new(id(0)?)),
            ("st", 1) => Traffic(SubscriptionId::new(id(0)?)),
            ("sp", 2) => TrafficPack(SubscriptionId::new(id(0)?), id(1)?),
            ("sm", 1) => Move(SubscriptionId::new(id(0)?)),
            ("smt", 2) => MoveTo(SubscriptionId::new(id(0)?), LocationId::new(id(1)?)),
            ("smc", 2) => MoveConfirm(SubscriptionId::new(id(0)?), LocationId::new(id(1)?)),
            ("sa", 2) => AutoRenew(
                SubscriptionId::new(id(0)?),
                match args[1] {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
            ),
            ("u", 0) => TopUp,
            ("u", 1) => TopUpStars(id(0)?),
            ("p", 0) => Points,
            ("k", 0) => Support,
            ("kn", 0) => NewTicket,
            ("k", 1) => Ticket(TicketId::new(id(0)?)),
            ("kw", 1) => TicketWrite(TicketId::new(id(0)?)),
            ("kc", 1) => TicketClose(TicketId::new(id(0)?)),
            ("kr", 2) => TicketRate(
                TicketId::new(id(0)?),
                u8::try_from(id(1)?).ok().filter(|n| (1..=5).contains(n))?,
            ),
            ("ov", 2) => PayVia(OrderId::new(id(0)?), Provider::parse(args[1])?),
            ("uv", 1) => TopUpVia(Provider::parse(args[0])?),
            ("pc", 1) => CheckPayment(PaymentId::new(id(0)?)),
            _ => return None,
        };
        Some(action)
    }
}

impl StaffAction {
    pub fn encode(self) -> String {
        use StaffAction::*;
        match self {
            ReceiptApprove(r) => format!("ra:{r}"),
            ReceiptReject(r) => format!("rr:{r}"),
            ReviewCreditReceived(p) => format!("vr:{p}"),
            ReviewCreditFull(p) => format!("vf:{p}"),
            ReviewDecline(p) => format!("vd:{p}"),
            TicketTake(t) => format!("tk:{t}"),
            TicketClose(t) => format!("tx:{t}"),
        }
    }

    pub fn decode(data: &str) -> Option<StaffAction> {
        use StaffAction::*;
        let (tag, args) = split(data)?;
        let id = |i: usize| number(&args, i);
        Some(match (tag, args.len()) {
            ("ra", 1) => ReceiptApprove(ReceiptId::new(id(0)?)),
            ("rr", 1) => ReceiptReject(ReceiptId::new(id(0)?)),
            ("vr", 1) => ReviewCreditReceived(PaymentId::new(id(0)?)),
            ("vf", 1) => ReviewCreditFull(PaymentId::new(id(0)?)),
            ("vd", 1) => ReviewDecline(PaymentId::new(id(0)?)),
            ("tk", 1) => TicketTake(TicketId::new(id(0)?)),
            ("tx", 1) => TicketClose(TicketId::new(id(0)?)),
            _ => return None,
        })
    }
}

impl AdminAction {
    pub fn encode(self) -> String {
        use AdminAction::*;
        match self {
            Menu => "am".to_string(),
            Stats => "as".to_string(),
            Staff => "at".to_string(),
            StaffAdd => "ata".to_string(),
            StaffGrant(who, RoleChoice::Fixed(r)) => format!("atg:{who}:{r}"),
            StaffGrant(who, RoleChoice::Custom(id)) => format!("atg:{who}:c{id}"),
            StaffRevoke(who) => format!("atr:{who}"),
            Audit(page, filter) => {
                let f = match filter {
                    AuditFilter::All => "-".to_string(),
                    AuditFilter::Kind(k) => format!("k{}", k.as_str()),
                    AuditFilter::Actor(a) => format!("a{a}"),
                    AuditFilter::Customer(c) => format!("c{c}"),
                };
                format!("au:{page}:{f}")
            }
            Customers => "ac".to_string(),
            Customer(c) => format!("acp:{c}"),
            AdjustWallet(c) => format!("acw:{c}"),
            ConfirmAdjust(c) => format!("acy:{c}"),
            Ban(c, on) => format!("acb:{c}:{}", u8::from(on)),
            ResendLink(s) => format!("acl:{s}"),
            Refund(o) => format!("acr:{o}"),
            ConfirmRefund(o) => format!("acq:{o}"),
            Tickets(page) => format!("ak:{page}"),
            Ticket(t) => format!("akt:{t}"),
            TicketTake(t) => format!("akk:{t}"),
            TicketReply(t) => format!("akr:{t}"),
            TicketClose(t) => format!("akc:{t}"),
            AdjustPoints(c) => format!("acn:{c}"),
            Gift(s) => format!("acg:{s}"),
            ConfirmGift(s) => format!("acgy:{s}"),
            Message(c) => format!("acm:{c}"),
            Catalog => "ax".to_string(),
            LocationEnabled(l, on) => format!("axl:{l}:{}", u8::from(on)),
            PlanEnabled(p, on) => format!("axp:{p}:{}", u8::from(on)),
            Payments => "ay".to_string(),
            CardEnabled(c, on) => format!("aye:{c}:{}", u8::from(on)),
            Promos => "ao".to_string(),
            PromoEnabled(p, on) => format!("aoe:{p}:{}", u8::from(on)),
            Panels => "ap".to_string(),
            Panel(p) => format!("apv:{p}"),
            PanelCheck(p) => format!("apk:{p}"),
            PanelEnabled(p, on) => format!("ape:{p}:{}", u8::from(on)),
            PanelCapacity(p) => format!("apc:{p}"),
            Settings => "ag".to_string(),
            Jobs => "aj".to_string(),
            Reconcile => "ar".to_string(),
            RepairSub(s, missing) => format!("ars:{s}:{}", u8::from(missing)),
            RepairUnknown(p, c, s) => format!("aru:{p}:{c}:{s}"),
            RepairAll => "ara".to_string(),
            SetMaintenance(on) => format!("agm:{}", u8::from(on)),
            AskChannel => "agc".to_string(),
            ChannelOff => "agx".to_string(),
            TrialPlans => "agt".to_string(),
            SetTrial(TrialPick::Plan(p)) => format!("agp:{p}"),
            SetTrial(TrialPick::Off) => "agp:off".to_string(),
            SetTrial(TrialPick::Config) => "agp:cfg".to_string(),
            AskHelp(l) => format!("agh:{}", l.code()),
            Broadcasts => "ab".to_string(),
            BroadcastNew => "abn".to_string(),
            BroadcastAudience(pick) => format!(
                "aba:{}",
                match pick {
                    AudiencePick::All => "all".to_string(),
                    AudiencePick::Active => "act".to_string(),
                    AudiencePick::Expiring => "exp".to_string(),
                    AudiencePick::Expired => "old".to_string(),
                    AudiencePick::TrialOnly => "trl".to_string(),
                    AudiencePick::NeverBought => "nvr".to_string(),
                    AudiencePick::Languages => "lng".to_string(),
                    AudiencePick::Language(l) => format!("g{}", l.code()),
                    AudiencePick::Locations => "loc".to_string(),
                    AudiencePick::Location(l) => format!("l{l}"),
                    AudiencePick::Plans => "pln".to_string(),
                    AudiencePick::Plan(p) => format!("p{p}"),
                    AudiencePick::Ids => "ids".to_string(),
                }
            ),
            BroadcastExtra(pick) => format!(
                "abb:{}",
                match pick {
                    ExtraPick::Shop => "s",
                    ExtraPick::Renew => "r",
                    ExtraPick::Url => "u",
                    ExtraPick::Clear => "x",
                }
            ),
            BroadcastConfirm => "aby".to_string(),
            BroadcastDiscard => "abz".to_string(),
            BroadcastShow(b) => format!("abv:{b}"),
            BroadcastControl(b, c) => format!(
                "abc:{b}:{}",
                match c {
                    Control::Pause => "p",
                    Control::Resume => "r",
                    Control::Cancel => "c",
                }
            ),
            BroadcastEdit(b) => format!("abe:{b}"),
            BroadcastDelete(b, sure) => format!("abx:{b}:{}", u8::from(sure)),
            Reports => "aq".to_string(),
            Report(days) => format!("aqr:{days}"),
            Export(e) => format!(
                "aqe:{}",
                match e {
                    self::Export::Orders => "o",
                    self::Export::Payments => "p",
                    self::Export::Customers => "c",
                }
            ),
        }
    }

    pub fn decode(data: &str) -> Option<AdminAction> {
        use AdminAction::*;
        let (tag, args) = split(data)?;
        Some(match (tag, args.len()) {
            ("am", 0) => Menu,
            ("as", 0) => Stats,
            ("at", 0) => Staff,
            ("ata", 0) => StaffAdd,
            ("atg", 2) => {
                let who = TelegramId::new(number(&args, 0)?);
                let role = match args[1].strip_prefix('c') {
                    Some(id) => RoleChoice::Custom(number(&[id], 0)?),
                    None => RoleChoice::Fixed(Role::parse(args[1]).filter(|r| *r != Role::Custom)?),
                };
                StaffGrant(who, role)
            }
            ("atr", 1) => StaffRevoke(TelegramId::new(number(&args, 0)?)),
            ("au", 2) => {
                let page = if args[0] == "0" {
                    0
                } else {
                    u32::try_from(number(&args, 0)?).ok()?
                };
                let f = args[1];
                let filter = if f == "-" {
                    AuditFilter::All
                } else if let Some(k) = f.strip_prefix('k') {
                    AuditFilter::Kind(AuditKind::parse(k)?)
                } else if let Some(a) = f.strip_prefix('a') {
                    AuditFilter::Actor(TelegramId::new(number(&[a], 0)?))
                } else {
                    let c = f.strip_prefix('c')?;
                    AuditFilter::Customer(CustomerId::new(number(&[c], 0)?))
                };
                Audit(page, filter)
            }
            ("ac", 0) => Customers,
            ("acp", 1) => Customer(CustomerId::new(number(&args, 0)?)),
            ("acw", 1) => AdjustWallet(CustomerId::new(number(&args, 0)?)),
            ("acy", 1) => ConfirmAdjust(CustomerId::new(number(&args, 0)?)),
            ("acl", 1) => ResendLink(SubscriptionId::new(number(&args, 0)?)),
            ("acr", 1) => Refund(OrderId::new(number(&args, 0)?)),
            ("acq", 1) => ConfirmRefund(OrderId::new(number(&args, 0)?)),
            ("ak", 1) if args[0] == "0" => Tickets(0),
            ("ak", 1) => Tickets(u32::try_from(number(&args, 0)?).ok()?),
            ("akt", 1) => Ticket(TicketId::new(number(&args, 0)?)),
            ("akk", 1) => TicketTake(TicketId::new(number(&args, 0)?)),
            ("akr", 1) => TicketReply(TicketId::new(number(&args, 0)?)),
            ("akc", 1) => TicketClose(TicketId::new(number(&args, 0)?)),
            ("acn", 1) => AdjustPoints(CustomerId::new(number(&args, 0)?)),
            ("acg", 1) => Gift(SubscriptionId::new(number(&args, 0)?)),
            ("acgy", 1) => ConfirmGift(SubscriptionId::new(number(&args, 0)?)),
            ("acm", 1) => Message(CustomerId::new(number(&args, 0)?)),
            ("ax", 0) => Catalog,
            ("axl", 2) => LocationEnabled(LocationId::new(number(&args, 0)?), flag(args[1])?),
            ("axp", 2) => PlanEnabled(PlanId::new(number(&args, 0)?), flag(args[1])?),
            ("ay", 0) => Payments,
            ("aye", 2) => CardEnabled(CardId::new(number(&args, 0)?), flag(args[1])?),
            ("ao", 0) => Promos,
            ("aoe", 2) => PromoEnabled(PromoCodeId::new(number(&args, 0)?), flag(args[1])?),
            ("ap", 0) => Panels,
            ("apv", 1) => Panel(PanelId::new(number(&args, 0)?)),
            ("apk", 1) => PanelCheck(PanelId::new(number(&args, 0)?)),
            ("ape", 2) => PanelEnabled(PanelId::new(number(&args, 0)?), flag(args[1])?),
            ("apc", 1) => PanelCapacity(PanelId::new(number(&args, 0)?)),
            ("ag", 0) => Settings,
            ("aj", 0) => Jobs,
            ("ar", 0) => Reconcile,
            ("ars", 2) => RepairSub(
                SubscriptionId::new(number(&args, 0)?),
                match args[1] {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
            ),
            ("aru", 3) => RepairUnknown(
                PanelId::new(number(&args, 0)?),
                number(&args, 1)?,
                number(&args, 2)?,
            ),
            ("ara", 0) => RepairAll,
            ("agm", 1) => SetMaintenance(match args[0] {
                "1" => true,
                "0" => false,
                _ => return None,
            }),
            ("agc", 0) => AskChannel,
            ("agx", 0) => ChannelOff,
            ("agt", 0) => TrialPlans,
            ("agp", 1) => SetTrial(match args[0] {
                "off" => TrialPick::Off,
                "cfg" => TrialPick::Config,
                _ => TrialPick::Plan(PlanId::new(number(&args, 0)?)),
            }),
            ("agh", 1) => AskHelp(Language::parse(args[0])?),
            ("ab", 0) => Broadcasts,
            ("abn", 0) => BroadcastNew,
            ("aba", 1) => BroadcastAudience(match args[0] {
                "all" => AudiencePick::All,
                "act" => AudiencePick::Active,
                "exp" => AudiencePick::Expiring,
                "old" => AudiencePick::Expired,
                "trl" => AudiencePick::TrialOnly,
                "nvr" => AudiencePick::NeverBought,
                "lng" => AudiencePick::Languages,
                "loc" => AudiencePick::Locations,
                "pln" => AudiencePick::Plans,
                "ids" => AudiencePick::Ids,
                other => {
                    let (kind, rest) = other.split_at_checked(1)?;
                    match kind {
                        "g" => AudiencePick::Language(Language::parse(rest)?),
                        "l" => AudiencePick::Location(LocationId::new(number(&[rest], 0)?)),
                        "p" => AudiencePick::Plan(PlanId::new(number(&[rest], 0)?)),
                        _ => return None,
                    }
                }
            }),
            ("abb", 1) => BroadcastExtra(match args[0] {
                "s" => ExtraPick::Shop,
                "r" => ExtraPick::Renew,
                "u" => ExtraPick::Url,
                "x" => ExtraPick::Clear,
                _ => return None,
            }),
            ("aby", 0) => BroadcastConfirm,
            ("abz", 0) => BroadcastDiscard,
            ("abv", 1) => BroadcastShow(BroadcastId::new(number(&args, 0)?)),
            ("abc", 2) => BroadcastControl(
                BroadcastId::new(number(&args, 0)?),
                match args[1] {
                    "p" => Control::Pause,
                    "r" => Control::Resume,
                    "c" => Control::Cancel,
                    _ => return None,
                },
            ),
            ("abe", 1) => BroadcastEdit(BroadcastId::new(number(&args, 0)?)),
            ("abx", 2) => BroadcastDelete(BroadcastId::new(number(&args, 0)?), flag(args[1])?),
            ("aq", 0) => Reports,
            ("aqr", 1) => Report(
                u32::try_from(number(&args, 0)?)
                    .ok()
                    .filter(|d| *d <= 366)?,
            ),
            ("aqe", 1) => Export(match args[0] {
                "o" => self::Export::Orders,
                "p" => self::Export::Payments,
                "c" => self::Export::Customers,
                _ => return None,
            }),
            ("acb", 2) => Ban(
                CustomerId::new(number(&args, 0)?),
                match args[1] {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
            ),
            _ => return None,
        })
    }
}

impl Button {
    /// The one place callback data is parsed, whatever the family.
    pub fn decode(data: &str) -> Option<Button> {
        StaffAction::decode(data)
            .map(Button::Staff)
            .or_else(|| AdminAction::decode(data).map(Button::Admin))
            .or_else(|| Action::decode(data).map(Button::Customer))
    }
}

/// The tag and the arguments of callback data, if it is not too long to be ours.
fn split(data: &str) -> Option<(&str, Vec<&str>)> {
    if data.len() > MAX_LEN {
        return None;
    }
    let mut parts = data.split(':');
    let tag = parts.next()?;
    Some((tag, parts.collect()))
}

/// `1` or `0`.
fn flag(s: &str) -> Option<bool> {
    match s {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// Argument `i` as an id: canonical positive decimals only (`007` or `+7` are not ours).
fn number(args: &[&str], i: usize) -> Option<i64> {
    let s = args.get(i)?;
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_fits() {
        use Action::*;
        let big = i64::MAX;
        let mut all = vec![
            Menu,
            LanguageMenu,
            Wallet,
            WalletPage(0),
            WalletPage(u32::MAX),
            Invite,
            Help,
            Guides,
            Buy,
            BuyLocation(LocationId::new(big)),
            BuyPlan(LocationId::new(big), PlanId::new(big)),
            PayWallet(OrderId::new(big)),
            PayStars(OrderId::new(big)),
            Promo(OrderId::new(big)),
            UsePoints(OrderId::new(big)),
            CancelOrder(OrderId::new(big)),
            Trial,
            Subscriptions,
            SubscriptionsPage(0),
            SubscriptionsPage(u32::MAX),
            Subscription(SubscriptionId::new(big)),
            SubscriptionQr(SubscriptionId::new(big)),
            Renew(SubscriptionId::new(big)),
            Traffic(SubscriptionId::new(big)),
            TrafficPack(SubscriptionId::new(big), big),
            AutoRenew(SubscriptionId::new(big), true),
            AutoRenew(SubscriptionId::new(big), false),
            Move(SubscriptionId::new(big)),
            MoveTo(SubscriptionId::new(big), LocationId::new(big)),
            MoveConfirm(SubscriptionId::new(big), LocationId::new(big)),
            TopUp,
            TopUpStars(big),
            Points,
            Support,
            NewTicket,
            Ticket(TicketId::new(big)),
            TicketWrite(TicketId::new(big)),
            TicketClose(TicketId::new(big)),
            TicketRate(TicketId::new(big), 5),
            CheckPayment(PaymentId::new(big)),
        ];
        all.extend(Provider::ALL.iter().map(|p| PayVia(OrderId::new(big), *p)));
        all.extend(Provider::ALL.iter().copied().map(TopUpVia));
        all.extend(Language::ALL.map(SetLanguage));
        all.extend(Platform::ALL.map(Guide));
        for a in all {
            let data = a.encode();
            assert!(data.len() <= MAX_LEN, "{data}");
            assert_eq!(Button::decode(&data), Some(Button::Customer(a)), "{data}");
        }
        for a in [
            StaffAction::ReceiptApprove(ReceiptId::new(big)),
            StaffAction::ReceiptReject(ReceiptId::new(big)),
            StaffAction::ReviewCreditReceived(PaymentId::new(big)),
            StaffAction::ReviewCreditFull(PaymentId::new(big)),
            StaffAction::ReviewDecline(PaymentId::new(big)),
            StaffAction::TicketTake(TicketId::new(big)),
            StaffAction::TicketClose(TicketId::new(big)),
        ] {
            let data = a.encode();
            assert!(data.len() <= MAX_LEN, "{data}");
            assert_eq!(Button::decode(&data), Some(Button::Staff(a)), "{data}");
            assert_eq!(
                Action::decode(&data),
                None,
                "{data} is no customer's button"
            );
        }
    }

    #[test]
    fn every_admin_action_round_trips_and_fits() {
        let big = i64::MAX;
        let mut all = vec![
            AdminAction::Menu,
            AdminAction::Stats,
            AdminAction::Staff,
            AdminAction::StaffAdd,
            AdminAction::StaffRevoke(TelegramId::new(big)),
            AdminAction::StaffGrant(TelegramId::new(big), RoleChoice::Custom(big)),
            AdminAction::Audit(0, AuditFilter::All),
            AdminAction::Audit(u32::MAX, AuditFilter::Actor(TelegramId::new(big))),
            AdminAction::Audit(u32::MAX, AuditFilter::Customer(CustomerId::new(big))),
            AdminAction::Customers,
            AdminAction::Customer(CustomerId::new(big)),
            AdminAction::AdjustWallet(CustomerId::new(big)),
            AdminAction::ConfirmAdjust(CustomerId::new(big)),
            AdminAction::Ban(CustomerId::new(big), true),
            AdminAction::Ban(CustomerId::new(big), false),
            AdminAction::ResendLink(SubscriptionId::new(big)),
            AdminAction::Refund(OrderId::new(big)),
            AdminAction::ConfirmRefund(OrderId::new(big)),
            AdminAction::Tickets(0),
            AdminAction::Tickets(u32::MAX),
            AdminAction::Ticket(TicketId::new(big)),
            AdminAction::TicketTake(TicketId::new(big)),
            AdminAction::TicketReply(TicketId::new(big)),
            AdminAction::TicketClose(TicketId::new(big)),
            AdminAction::AdjustPoints(CustomerId::new(big)),
            AdminAction::Gift(SubscriptionId::new(big)),
            AdminAction::ConfirmGift(SubscriptionId::new(big)),
            AdminAction::Message(CustomerId::new(big)),
            AdminAction::Catalog,
            AdminAction::LocationEnabled(LocationId::new(big), true),
            AdminAction::PlanEnabled(PlanId::new(big), false),
            AdminAction::Payments,
            AdminAction::CardEnabled(CardId::new(big), true),
            AdminAction::Promos,
            AdminAction::PromoEnabled(PromoCodeId::new(big), false),
            AdminAction::Panels,
            AdminAction::Panel(PanelId::new(big)),
            AdminAction::PanelCheck(PanelId::new(big)),
            AdminAction::PanelEnabled(PanelId::new(big), true),
            AdminAction::PanelEnabled(PanelId::new(big), false),
            AdminAction::PanelCapacity(PanelId::new(big)),
            AdminAction::Settings,
            AdminAction::Jobs,
            AdminAction::Reconcile,
            AdminAction::RepairSub(SubscriptionId::new(big), true),
            AdminAction::RepairSub(SubscriptionId::new(big), false),
            AdminAction::RepairUnknown(PanelId::new(big), big, big),
            AdminAction::RepairAll,
            AdminAction::SetMaintenance(true),
            AdminAction::SetMaintenance(false),
            AdminAction::AskChannel,
            AdminAction::ChannelOff,
            AdminAction::TrialPlans,
            AdminAction::SetTrial(TrialPick::Plan(PlanId::new(big))),
            AdminAction::SetTrial(TrialPick::Off),
            AdminAction::SetTrial(TrialPick::Config),
        ];
        all.extend(Language::ALL.map(AdminAction::AskHelp));
        let b = BroadcastId::new(big);
        all.extend([
            AdminAction::Broadcasts,
            AdminAction::BroadcastNew,
            AdminAction::BroadcastConfirm,
            AdminAction::BroadcastDiscard,
            AdminAction::BroadcastShow(b),
            AdminAction::BroadcastControl(b, Control::Pause),
            AdminAction::BroadcastControl(b, Control::Resume),
            AdminAction::BroadcastControl(b, Control::Cancel),
            AdminAction::BroadcastEdit(b),
            AdminAction::BroadcastDelete(b, true),
            AdminAction::BroadcastDelete(b, false),
        ]);
        for pick in [
            AudiencePick::All,
            AudiencePick::Active,
            AudiencePick::Expiring,
            AudiencePick::Expired,
            AudiencePick::TrialOnly,
            AudiencePick::NeverBought,
            AudiencePick::Languages,
            AudiencePick::Language(Language::Ru),
            AudiencePick::Locations,
            AudiencePick::Location(LocationId::new(big)),
            AudiencePick::Plans,
            AudiencePick::Plan(PlanId::new(big)),
            AudiencePick::Ids,
        ] {
            all.push(AdminAction::BroadcastAudience(pick));
        }
        for pick in [
            ExtraPick::Shop,
            ExtraPick::Renew,
            ExtraPick::Url,
            ExtraPick::Clear,
        ] {
            all.push(AdminAction::BroadcastExtra(pick));
        }
        for r in [Role::Owner, Role::Admin, Role::Finance, Role::Support] {
            all.push(AdminAction::StaffGrant(
                TelegramId::new(big),
                RoleChoice::Fixed(r),
            ));
        }
        for k in AuditKind::ALL {
            all.push(AdminAction::Audit(7, AuditFilter::Kind(k)));
        }
        for a in all {
            let data = a.encode();
            assert!(data.len() <= MAX_LEN, "{data}");
            assert_eq!(Button::decode(&data), Some(Button::Admin(a)), "{data}");
        }
        for bad in [
            "atg:1:custom",
            "atg:1:c0",
            "atg:1:god",
            "au:01:-",
            "au:1:kmoney",
            "am:1",
        ] {
            assert_eq!(Button::decode(bad), None, "{bad}");
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
            "ow:",
            "ow:-1",
            "ow:+1",
            "ow:007",
            "ow:1:500",
            "bp:1",
            "sp:1:10:price=0",
            "g:symbian",
            "ow:99999999999999999999",
            "ov:1:paypal",
            "ov:1:card:5000",
            "uv:card:100000",
            "ra:1:approved_by=1",
        ] {
            assert_eq!(Button::decode(bad), None, "{bad}");
        }
    }
}
