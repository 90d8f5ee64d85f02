//! `/admin`: the screens this staff member's role opens, one button each.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::staff::Permission;

use super::{Admin, button};
use crate::callback::{AdminAction, AuditFilter};
use crate::errors::HandlerResult;
use crate::text::{escape, tr, tr_with};

pub async fn show(a: &Admin) -> HandlerResult {
    let lang = a.lang();
    let mut rows = vec![vec![button(
        tr(lang, "admin.menu.stats"),
        AdminAction::Stats,
    )]];
    if a.access.may(Permission::Customers) {
        rows.push(vec![button(
            tr(lang, "admin.menu.customers"),
            AdminAction::Customers,
        )]);
    }
    if a.access.may(Permission::Tickets) {
        rows.push(vec![button(
            tr(lang, "admin.menu.support"),
            AdminAction::Tickets(0),
        )]);
    }
    if a.access.may(Permission::Staff) {
        rows.push(vec![button(
            tr(lang, "admin.menu.staff"),
            AdminAction::Staff,
        )]);
    }
    let mut shop = Vec::new();
    if a.access.may(Permission::Catalog) {
        shop.push(button(tr(lang, "admin.menu.catalog"), AdminAction::Catalog));
    }
    // Finance opens it for the receipts waiting.
    if a.access.may(Permission::Cards) || a.access.may(Permission::Receipts) {
        shop.push(button(
            tr(lang, "admin.menu.payments"),
            AdminAction::Payments,
        ));
    }
    if a.access.may(Permission::Promos) {
        shop.push(button(tr(lang, "admin.menu.promos"), AdminAction::Promos));
    }
    if a.access.may(Permission::Panels) {
        shop.push(button(tr(lang, "admin.menu.panels"), AdminAction::Panels));
    }
    if !shop.is_empty() {
        rows.push(shop);
    }
    let mut reach = Vec::new();
    if a.access.may(Permission::Broadcasts) {
        reach.push(button(
            tr(lang, "admin.menu.broadcasts"),
            AdminAction::Broadcasts,
        ));
    }
    if a.access.may(Permission::Reports) {
        reach.push(button(tr(lang, "admin.menu.reports"), AdminAction::Reports));
    }
    if !reach.is_empty() {
        rows.push(reach);
    }
    if a.access.may(Permission::Settings) {
        rows.push(vec![
            button(tr(lang, "admin.menu.settings"), AdminAction::Settings),
            button(tr(lang, "admin.menu.jobs"), AdminAction::Jobs),
        ]);
    }
    if a.access.may(Permission::Audit) {
        rows.push(vec![button(
            tr(lang, "admin.menu.audit"),
            AdminAction::Audit(0, AuditFilter::All),
        )]);
    }
    let text = tr_with(
        lang,
        "admin.menu.title",
        &[
            ("shop", &escape(&a.v.ctx.shop_name)),
            ("role", &escape(&a.access.title())),
        ],
    );
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}
