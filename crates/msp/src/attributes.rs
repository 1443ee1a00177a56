//! Certificate attributes: the CA writes an identity's attributes as subject OUs of the
//! form `key=value` (e.g. `department=finance`, see `ca/src/authority.rs`), beside the
//! role OU. Contracts read them from the validated creator to enforce duties such as the
//! settlement contract's separation of finance and settlement staff.
//!
//! Parsing is pure and bounded: a certificate can carry any OUs its organisation's CA put
//! there, so only well-formed pairs within the limits below count, and a key named twice
//! with different values counts for neither (an ambiguous `department` must not grant a
//! duty).

use std::collections::BTreeMap;

/// Attributes kept from one certificate; OUs past this count are ignored.
pub const ATTRIBUTES_MAX: usize = 16;
/// Bytes of an attribute key (`[a-z0-9_.-]`).
pub const ATTRIBUTE_KEY_BYTES_MAX: usize = 64;
/// Bytes of an attribute value (printable, no control characters).
pub const ATTRIBUTE_VALUE_BYTES_MAX: usize = 128;

/// The `key=value` attributes among a certificate's subject OUs. OUs without `=` (the
/// role OU) and malformed or oversize pairs are skipped; a key given twice with different
/// values is dropped.
pub fn certificate_attributes(organizational_units: &[String]) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    let mut conflicting = Vec::new();
    for unit in organizational_units {
        let Some((key, value)) = parse_attribute(unit) else {
            continue;
        };
        match attributes.get(key) {
            Some(existing) if existing != value => conflicting.push(key.to_owned()),
            Some(_) => {}
            None if attributes.len() < ATTRIBUTES_MAX => {
                attributes.insert(key.to_owned(), value.to_owned());
            }
            None => {}
        }
    }
    for key in conflicting {
        attributes.remove(&key);
    }
    attributes
}

fn parse_attribute(unit: &str) -> Option<(&str, &str)> {
    let (key, value) = unit.split_once('=')?;
    let key_ok = !key.is_empty()
        && key.len() <= ATTRIBUTE_KEY_BYTES_MAX
        && key.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'.' | b'-')
        });
    let value_ok = !value.is_empty()
        && value.len() <= ATTRIBUTE_VALUE_BYTES_MAX
        && value.trim() == value
        && !value.chars().any(char::is_control);
    (key_ok && value_ok).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(units: &[&str], expected: &[(&str, &str)]) {
        let units: Vec<String> = units.iter().map(|unit| (*unit).to_owned()).collect();
        let got = certificate_attributes(&units);
        let expected: BTreeMap<String, String> = expected
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        assert_eq!(got, expected, "units {units:?}");
    }

    #[test]
    fn attributes_from_organizational_units() {
        // The role OU is not an attribute.
        check(&["client"], &[]);
        check(
            &["client", "department=finance"],
            &[("department", "finance")],
        );
        // Values may be UTF-8 and hold `=`.
        check(
            &["team=财务部", "note=a=b"],
            &[("team", "财务部"), ("note", "a=b")],
        );
        // The same pair twice is one attribute; conflicting values drop the key.
        check(
            &["department=finance", "department=finance"],
            &[("department", "finance")],
        );
        check(
            &["department=finance", "department=settlement", "site=bj"],
            &[("site", "bj")],
        );
        // Malformed pairs are skipped.
        check(
            &[
                "=finance",
                "department=",
                "Department=finance",
                "dept = x",
                "k=\u{7}",
            ],
            &[],
        );
        check(&["department= finance"], &[]);
    }

    #[test]
    fn attributes_are_bounded() {
        let long_key = format!("{}=v", "k".repeat(ATTRIBUTE_KEY_BYTES_MAX + 1));
        let long_value = format!("k={}", "v".repeat(ATTRIBUTE_VALUE_BYTES_MAX + 1));
        check(&[&long_key, &long_value], &[]);
        let many: Vec<String> = (0..ATTRIBUTES_MAX + 5)
            .map(|n| format!("k{n:02}=v"))
            .collect();
        let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let units: Vec<String> = many_refs.iter().map(|unit| (*unit).to_owned()).collect();
        let got = certificate_attributes(&units);
        assert_eq!(got.len(), ATTRIBUTES_MAX);
        assert!(got.contains_key("k00") && !got.contains_key(&format!("k{:02}", ATTRIBUTES_MAX)));
    }
}
