//! Caps on long-lived requests (event streams): at most `total` at once, and at most
//! `per_client` from one address, so a few clients can't take every connection the process may
//! open. A [`Slot`] is held for as long as its stream lives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct Slots {
    total: usize,
    per_client: usize,
    held: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a slot was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Full {
    Server(usize),
    Client(usize),
}

impl Slots {
    pub fn new(total: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            per_client,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for a client at `addr` (unknown addresses count only toward the total).
    pub fn take(self: &Arc<Self>, addr: Option<IpAddr>) -> Result<Slot, Full> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.0 >= self.total {
            return Err(Full::Server(self.total));
        }
        if let Some(ip) = addr {
            let n = held.1.entry(ip).or_insert(0);
            if *n >= self.per_client {
                return Err(Full::Client(self.per_client));
            }
            *n += 1;
        }
        held.0 += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            addr,
        })
    }

    /// Slots held now.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

/// A held slot; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    addr: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 = held.0.saturating_sub(1);
        if let Some(ip) = self.addr {
            if let Some(n) = held.1.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    held.1.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_client_and_come_back() {
        let slots = Slots::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = slots.take(Some(a)).unwrap();
        let _a2 = slots.take(Some(a)).unwrap();
        assert_eq!(slots.take(Some(a)).unwrap_err(), Full::Client(2));
        let _b1 = slots.take(Some(b)).unwrap();
        assert_eq!(slots.take(Some(b)).unwrap_err(), Full::Server(3));
        drop(a1);
        assert_eq!(slots.held(), 2);
        slots.take(Some(a)).unwrap();
    }
}
