//! The PIN policy (ThaID's) and the backoff after wrong PINs.

use crate::{Result, WalletError};
use tuaton_common::model::PartialDate;
use zeroize::Zeroizing;

/// Wrong PINs allowed before the wallet locks.
pub const MAX_ATTEMPTS: u32 = 5;

/// Seconds to wait after the n-th consecutive wrong PIN (n = 1..4); the 5th locks.
pub fn backoff_secs(failures: u32) -> i64 {
    match failures {
        0 => 0,
        1 => 1,
        2 => 5,
        3 => 30,
        _ => 300,
    }
}

/// A PIN that passed the policy. No `Debug`; wiped on drop.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// The policy (ThaID's): digits only, exactly `len` of them, no run of 4 ascending,
    /// descending or repeated digits, and not the holder's birth date in any common form.
    pub fn parse(s: &str, len: usize, birth: Option<PartialDate>) -> Result<Pin> {
        let s = s.trim_end_matches(['\r', '\n']);
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WalletError::PinPolicy("use digits only".into()));
        }
        if s.len() != len {
            return Err(WalletError::PinPolicy(format!(
                "it must have {len} digits, not {}",
                s.len()
            )));
        }
        let d: Vec<i32> = s.bytes().map(|b| i32::from(b - b'0')).collect();
        for w in d.windows(4) {
            let steps: Vec<i32> = w.windows(2).map(|p| p[1] - p[0]).collect();
            let run = |k: i32| steps.iter().all(|x| *x == k || *x == k - 10 * k.signum());
            let digits: String = w.iter().map(|x| char::from(b'0' + *x as u8)).collect();
            if steps.iter().all(|x| *x == 0) {
                return Err(WalletError::PinPolicy(format!(
                    "it repeats a digit ({digits})"
                )));
            }
            if run(1) || run(-1) {
                return Err(WalletError::PinPolicy(format!(
                    "it contains the run {digits}"
                )));
            }
        }
        if let Some(b) = birth {
            if let Some(form) = birth_forms(b).into_iter().find(|f| s.contains(f.as_str())) {
                return Err(WalletError::PinPolicy(format!(
                    "it contains your birth date ({form})"
                )));
            }
        }
        Ok(Pin(Zeroizing::new(s.to_owned())))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The ways people write a birth date as digits, in the Christian and Buddhist eras.
fn birth_forms(b: PartialDate) -> Vec<String> {
    use chrono::Datelike;
    let mut out = vec![];
    for off in [0, 543] {
        match b {
            PartialDate::Full(d) => {
                let (y, m, dd) = (d.year() + off, d.month(), d.day());
                let yy = y % 100;
                out.extend([
                    format!("{dd:02}{m:02}{y:04}"),
                    format!("{y:04}{m:02}{dd:02}"),
                    format!("{m:02}{dd:02}{y:04}"),
                    format!("{dd:02}{m:02}{yy:02}"),
                    format!("{yy:02}{m:02}{dd:02}"),
                ]);
            }
            PartialDate::YearMonth(y, m) => out.extend([
                format!("{m:02}{:04}", y + off),
                format!("{:04}{m:02}", y + off),
            ]),
            PartialDate::Year(y) => out.push(format!("{:04}", y + off)),
        }
    }
    out
}
