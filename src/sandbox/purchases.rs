//! Synthetic purchases for a linked connection: three, the same every time for one
//! connection (derived from a digest of its id), so a test can write them twice and see an
//! idempotent upsert, and a demo shows plausible data for each sandbox retailer.
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::domain::time::rfc3339;

/// How many purchases a connection gets.
pub const COUNT: usize = 3;
/// Sales tax, in per cent of the subtotal.
const TAX_PERCENT: u64 = 8;
/// 2025-01-01T00:00:00Z: the purchases fall in the months after it.
const FIRST_DAY: i64 = 1_735_689_600;
const DAY: i64 = 86_400;

/// A product a sandbox retailer sells: (product_id, name, description, brand, upc, price in cents).
type Product = (&'static str, &'static str, &'static str, &'static str, &'static str, u64);

const BOOKS: [Product; 4] = [
    ("bk-1001", "The Quiet Ledger", "Paperback, 320 pages", "Sandbox Press", "978000000101", 1499),
    ("bk-1002", "Rivers of Light", "Hardcover, 412 pages", "Sandbox Press", "978000000102", 2450),
    ("bk-1003", "A Field Guide to Moss", "Paperback, 180 pages", "Greenleaf", "978000000103", 1199),
    ("bk-1004", "Notebook, dotted", "A5, 120 sheets", "Papier", "978000000104", 899),
];
const GROCER: [Product; 4] = [
    ("gr-2001", "Oat milk", "1 litre", "Oaty", "012345678901", 299),
    ("gr-2002", "Sourdough loaf", "800 g", "Corner Bakery", "012345678902", 450),
    ("gr-2003", "Free-range eggs", "Box of 12", "Hillside Farm", "012345678903", 399),
    ("gr-2004", "Ground coffee", "250 g, medium roast", "Bean There", "012345678904", 725),
];
const OUTFITTERS: [Product; 4] = [
    ("of-3001", "Trail socks", "Merino, size M", "Ridgeline", "034567890101", 1800),
    ("of-3002", "Rain shell", "Packable, size L", "Ridgeline", "034567890102", 12900),
    ("of-3003", "Water bottle", "750 ml, steel", "Canteen Co", "034567890103", 2400),
    ("of-3004", "Head torch", "300 lumen, rechargeable", "Brightway", "034567890104", 3500),
];

/// The products `retailer_id` sells (a retailer the sandbox did not register sells groceries).
fn catalogue(retailer_id: &str) -> &'static [Product] {
    match retailer_id {
        "sandbox-books" => &BOOKS,
        "sandbox-outfitters" => &OUTFITTERS,
        _ => &GROCER,
    }
}

/// Cents as a decimal string (`1234` is `"12.34"`): money never passes through a float.
fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The connection's purchases, as `PUT /connector/connections/{id}/purchases` takes them.
pub fn for_connection(connection_id: &str, retailer_id: &str) -> Value {
    let seed: [u8; 32] = Sha256::digest(connection_id.as_bytes()).into();
    let tag: String = seed[..6].iter().map(|b| format!("{b:02x}")).collect();
    let products = catalogue(retailer_id);
    let purchases: Vec<Value> = (0..COUNT).map(|i| purchase(&seed, &tag, i, products)).collect();
    Value::Array(purchases)
}

/// The `i`th purchase: its date, one to three items, and the sums.
fn purchase(seed: &[u8; 32], tag: &str, i: usize, products: &[Product]) -> Value {
    let byte = |at: usize| u64::from(seed[at % seed.len()]);
    let day = i64::from(seed[i]) % 28 + 30 * i64::try_from(i).unwrap_or(0);
    let hour = 9 + i64::from(seed[3 + i]) % 10;
    let date = rfc3339(FIRST_DAY + day * DAY + hour * 3600);
    let count = 1 + byte(6 + i) % 3;
    let mut subtotal = 0;
    let items: Vec<Value> = (0..count)
        .map(|j| {
            let at = 9 + i * 3 + usize::try_from(j).unwrap_or(0);
            let (product_id, name, description, brand, upc, price) =
                products[usize::try_from(byte(at)).unwrap_or(0) % products.len()];
            let quantity = 1 + byte(at + 11) % 3;
            subtotal += price * quantity;
            json!({
                "item_id": (j + 1).to_string(),
                "price": money(price),
                "quantity": quantity,
                "product": {"product_id": product_id, "name": name, "description": description,
                            "brand": brand, "upc": upc},
            })
        })
        .collect();
    // Rounded half up to the cent.
    let tax = (subtotal * TAX_PERCENT + 50) / 100;
    json!({
        "purchase_id": format!("sbx-{tag}-{}", i + 1),
        "date": date,
        "total": money(subtotal + tax),
        "tax": money(tax),
        "subtotal": money(subtotal),
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::purchase::{is_decimal, is_purchase_id, parse_date};

    fn cents(s: &str) -> u64 {
        let (whole, frac) = s.split_once('.').expect("two places");
        whole.parse::<u64>().expect("whole") * 100 + frac.parse::<u64>().expect("cents")
    }

    #[test]
    fn the_same_connection_gets_the_same_purchases_and_another_gets_others() {
        let a = for_connection("01J51S0JYV6N7K1030CV1ZKSCA", "sandbox-books");
        assert_eq!(a, for_connection("01J51S0JYV6N7K1030CV1ZKSCA", "sandbox-books"));
        let b = for_connection("01J51S0JYV6N7K1030CV1ZKSCB", "sandbox-books");
        assert_ne!(a[0]["purchase_id"], b[0]["purchase_id"]);
    }

    #[test]
    fn purchases_are_what_the_connector_api_accepts_and_add_up() {
        for (i, retailer) in ["sandbox-books", "sandbox-grocer", "sandbox-outfitters", "elsewhere"].iter().enumerate() {
            for n in 0..50 {
                let batch = for_connection(&format!("conn-{i}-{n}"), retailer);
                let list = batch.as_array().expect("a list");
                assert_eq!(list.len(), COUNT);
                let mut ids = std::collections::HashSet::new();
                for p in list {
                    let id = p["purchase_id"].as_str().expect("id");
                    assert!(is_purchase_id(id) && ids.insert(id.to_owned()), "{id}");
                    assert!(parse_date(p["date"].as_str().expect("date")).is_some(), "{p}");
                    for field in ["total", "tax", "subtotal"] {
                        assert!(is_decimal(p[field].as_str().expect(field)), "{field}: {p}");
                    }
                    let items = p["items"].as_array().expect("items");
                    assert!((1..=3).contains(&items.len()));
                    let sum: u64 = items
                        .iter()
                        .map(|it| cents(it["price"].as_str().expect("price")) * it["quantity"].as_u64().expect("qty"))
                        .sum();
                    assert_eq!(sum, cents(p["subtotal"].as_str().expect("subtotal")));
                    let total = cents(p["tax"].as_str().expect("tax")) + sum;
                    assert_eq!(total, cents(p["total"].as_str().expect("total")));
                    for it in items {
                        let product = &it["product"];
                        assert!(product["product_id"].as_str().is_some_and(|s| !s.is_empty() && s.len() <= 64));
                        assert!(product["upc"].as_str().is_some_and(|s| s.len() <= 32));
                    }
                }
            }
        }
    }

    #[test]
    fn money_is_written_with_two_places() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(12900), "129.00");
        assert_eq!(money(1234), "12.34");
    }
}
