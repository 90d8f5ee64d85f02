//! Every gateway fake keeps the same bookkeeping: what it made (payments, sessions, invoices)
//! under the provider's id, the order it made them in (tests ask for "the last one"), a serial
//! the provider's ids count up from, and the callbacks queued for the test to deliver. Each fake
//! once kept its own copy of all of this, and the copies drifted apart; here it is kept once, so
//! only what is truly one provider's (its credentials, refunds, tokens) stays in its fake.
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt::Display;

use super::Sent;

/// Generic because each provider shapes its ids (UUIDs, `A…` authorities, numbers) and its
/// records (a JSON object as shown, or a struct the fake renders) its own way.
pub struct Store<K, P> {
    records: BTreeMap<K, P>,
    /// Ids in creation order; lookups go through `records`, order through here.
    order: Vec<K>,
    serial: u64,
    outbox: Vec<Sent>,
}

impl<K: Ord + Clone, P> Store<K, P> {
    /// `serial` is the last id "already used": the first `next_serial` is above it, so a fake's
    /// first id looks as far into a real account's life as the provider's do.
    pub fn new(serial: u64) -> Self {
        Store {
            records: BTreeMap::new(),
            order: Vec::new(),
            serial,
            outbox: Vec::new(),
        }
    }

    /// Moves the serial on by `step` and returns it. Providers differ in how far apart their
    /// ids are (1, or a random gap when other merchants' ids come between).
    pub fn next_serial(&mut self, step: u64) -> u64 {
        self.serial += step;
        self.serial
    }

    /// Records a new `record` under `id`. Ids are never reused, so a second insert under the
    /// same id replaces the record but keeps its place in the order.
    pub fn insert(&mut self, id: K, record: P) {
        if self.records.insert(id.clone(), record).is_none() {
            self.order.push(id);
        }
    }

    pub fn get<Q>(&self, id: &Q) -> Option<&P>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.records.get(id)
    }

    pub fn get_mut<Q>(&mut self, id: &Q) -> Option<&mut P>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.records.get_mut(id)
    }

    /// For a test's own calls (`pay`, `cancel`…): naming a record the fake never made is a bug
    /// in the test, so it panics saying which (`what`: "YooKassa payment", …).
    pub fn expect<Q>(&self, id: &Q, what: &str) -> &P
    where
        K: Borrow<Q>,
        Q: Ord + Display + ?Sized,
    {
        self.records
            .get(id)
            .unwrap_or_else(|| panic!("no {what} {id}"))
    }

    /// `expect`, to change the record.
    pub fn expect_mut<Q>(&mut self, id: &Q, what: &str) -> &mut P
    where
        K: Borrow<Q>,
        Q: Ord + Display + ?Sized,
    {
        self.records
            .get_mut(id)
            .unwrap_or_else(|| panic!("no {what} {id}"))
    }

    /// Forgets a record (a provider that lets the merchant delete one), order included.
    pub fn remove<Q>(&mut self, id: &Q) -> Option<P>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let record = self.records.remove(id)?;
        self.order.retain(|k| k.borrow() != id);
        Some(record)
    }

    /// Ids in creation order: tests find the payment the shop just made at the end.
    pub fn ids(&self) -> Vec<K> {
        self.order.clone()
    }

    /// Records with their ids in creation order; `.rev()` for newest first, as list calls answer.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &P)> {
        self.order
            .iter()
            .filter_map(|id| self.records.get(id).map(|record| (id, record)))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Queues a callback; the fake never sends it itself, the test delivers it (or doesn't).
    pub fn queue(&mut self, sent: Sent) {
        self.outbox.push(sent);
    }

    /// Callbacks queued so far, oldest first (copies: delivering one does not dequeue it).
    pub fn outbox(&self) -> Vec<Sent> {
        self.outbox.clone()
    }

    /// The callback queued last, usually the one the step under test caused.
    pub fn last(&self) -> Option<Sent> {
        self.outbox.last().cloned()
    }
}
