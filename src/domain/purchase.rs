//! Purchases: what a connection's retailer account bought, written by the connector and read
//! with an `access` connection token. Money is decimal text, kept exactly as it was sent.
use serde::Serialize;

use super::ids::{ClientId, ConnectionId};

/// A purchase as stored and as `GET /purchases/{purchase_id}` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Purchase {
    pub purchase_id: String,
    #[serde(skip)]
    pub connection_id: ConnectionId,
    #[serde(skip)]
    pub client_id: ClientId,
    /// As sent: `YYYY-MM-DD` or an RFC 3339 date-time.
    pub date: String,
    /// `date` as microseconds since the epoch (UTC), the listing's order.
    #[serde(skip)]
    pub date_key: i64,
    pub total: String,
    pub tax: Option<String>,
    pub subtotal: Option<String>,
    /// How many entries `items` has.
    pub item_count: i64,
    /// `[{item_id, price, quantity, product{product_id, name, description, brand, upc}}]`,
    /// validated, kept as sent.
    pub items: serde_json::Value,
}

/// A purchase as a listing shows it: everything but its items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurchaseSummary {
    pub purchase_id: String,
    pub date: String,
    pub total: String,
    pub tax: Option<String>,
    pub subtotal: Option<String>,
    pub item_count: i64,
}

impl From<&Purchase> for PurchaseSummary {
    fn from(p: &Purchase) -> Self {
        Self {
            purchase_id: p.purchase_id.clone(),
            date: p.date.clone(),
            total: p.total.clone(),
            tax: p.tax.clone(),
            subtotal: p.subtotal.clone(),
            item_count: p.item_count,
        }
    }
}

/// The longest decimal string accepted.
pub const MAX_DECIMAL_LEN: usize = 64;

/// The documented pattern of Subtotal's decimal strings, `^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$`:
/// an optional sign, digits with at most one decimal point, and at least one digit.
pub fn is_decimal(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_DECIMAL_LEN {
        return false;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut points = 0;
    let mut digits = 0;
    for b in body.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return false,
        }
    }
    points <= 1 && digits > 0
}

/// A purchase id, as it appears in a path: 1 to 64 of `A-Z a-z 0-9 _ - .`.
pub fn is_purchase_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && s != "."
        && s != ".."
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A purchase date, `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), as microseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    if s.len() < 10 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&date[..4])?, digits(&date[5..7])?, digits(&date[8..10])?);
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day_micros = days_from_civil(y, m, d) * 86_400_000_000;
    if rest.is_empty() {
        return Some(day_micros);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    if rest.len() < 9 {
        return None;
    }
    let (time, mut zone) = rest.split_at(8);
    let t = time.as_bytes();
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (hh, mm, ss) = (digits(&time[..2])?, digits(&time[3..5])?, digits(&time[6..8])?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut micros = 0;
    if let Some(frac) = zone.strip_prefix('.') {
        let end = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        if end == 0 || end > 9 {
            return None;
        }
        let padded = format!("{:0<6}", &frac[..end.min(6)]);
        micros = digits(&padded)?;
        zone = &frac[end..];
    }
    let offset_secs = match zone {
        "Z" | "z" => 0,
        _ => {
            let (sign, hm) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            if hm.len() != 5 || hm.as_bytes()[2] != b':' {
                return None;
            }
            let (oh, om) = (digits(&hm[..2])?, digits(&hm[3..])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = hh * 3600 + mm * 60 + ss - offset_secs;
    Some(day_micros + secs * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_follow_the_documented_pattern() {
        for ok in
            ["0", "12.34", "+1", "-0.5", ".5", "5.", "007.10", "123456789012345678901234567890.1", &"9".repeat(64)]
        {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", "+", "-", ".", "+.", "1.2.3", "1e5", "NaN", "1,00", " 1", "1 ", "--1", "0x10", &"1".repeat(65)]
        {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn dates_order_as_times() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(19_782 * 86_400_000_000));
        assert!(parse_date("2024-08-12T10:00:00.5Z") > parse_date("2024-08-12T10:00:00Z"));
        assert_eq!(parse_date("2024-08-12T10:00:00.123456789Z").map(|v| v % 1_000_000), Some(123_456));
        for bad in [
            "",
            "2024-13-01",
            "2023-02-29",
            "2024-01-01T",
            "2024-01-01T25:00:00Z",
            "2024-01-01T10:00:00",
            "2024-01-01T10:00:00.Z",
            "24-01-01",
            "2024-01-01T10:00:00+0100",
            "２０２４-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn purchase_ids_are_path_safe() {
        assert!(is_purchase_id("01J51S0JYV6N7K1030CV1ZKSCA") && is_purchase_id("order-123_a.b"));
        for bad in ["", ".", "..", "a/b", "a b", "a%2F", &"x".repeat(65), "é"] {
            assert!(!is_purchase_id(bad), "{bad}");
        }
    }
}
