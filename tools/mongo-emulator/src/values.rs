//! BSON value ordering and equality with MongoDB's cross-type rules (numbers compare by value,
//! types are ordered by their canonical "type bracket").

use std::cmp::Ordering;

use bson::{Bson, Document};

/// The canonical sort rank of a value's type, as MongoDB orders mixed types.
pub fn type_rank(value: &Bson) -> u8 {
    match value {
        Bson::MinKey => 1,
        Bson::Null | Bson::Undefined => 2,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 3,
        Bson::String(_) | Bson::Symbol(_) => 4,
        Bson::Document(_) => 5,
        Bson::Array(_) => 6,
        Bson::Binary(_) => 7,
        Bson::ObjectId(_) => 8,
        Bson::Boolean(_) => 9,
        Bson::DateTime(_) => 10,
        Bson::Timestamp(_) => 11,
        Bson::RegularExpression(_) => 12,
        Bson::DbPointer(_) => 13,
        Bson::JavaScriptCode(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::MaxKey => 100,
    }
}

/// Numeric view of a value, if it is an int32, int64 or double.
pub fn as_f64(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(v) => Some(f64::from(*v)),
        // Precision loss above 2^53 is acceptable for an emulator.
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        _ => None,
    }
}

/// Integral view of a value (int32, int64, or a double without fraction).
pub fn as_i64(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 && v.is_finite() => Some(*v as i64),
        _ => None,
    }
}

/// Total order over BSON values following MongoDB's comparison rules.
pub fn compare(a: &Bson, b: &Bson) -> Ordering {
    let rank = type_rank(a).cmp(&type_rank(b));
    if rank != Ordering::Equal {
        return rank;
    }
    match (a, b) {
        (Bson::Int32(x), Bson::Int32(y)) => x.cmp(y),
        (Bson::Int64(x), Bson::Int64(y)) => x.cmp(y),
        (Bson::Int32(x), Bson::Int64(y)) => i64::from(*x).cmp(y),
        (Bson::Int64(x), Bson::Int32(y)) => x.cmp(&i64::from(*y)),
        (Bson::Decimal128(x), Bson::Decimal128(y)) => x.bytes().cmp(&y.bytes()),
        _ if type_rank(a) == 3 => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            // Decimal128 against other numbers: not ordered by the emulator.
            _ => Ordering::Equal,
        },
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => x.cmp(y),
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => {
            x.pattern.cmp(&y.pattern).then_with(|| x.options.cmp(&y.options))
        }
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y),
        _ if a == b => Ordering::Equal,
        // Remaining exotic pairs (db pointers, code with scope): any stable order will do.
        _ => format!("{a:?}").cmp(&format!("{b:?}")),
    }
}

/// Whether two values are equal under MongoDB rules (`1 == 1.0`, field order matters in documents).
pub fn equal(a: &Bson, b: &Bson) -> bool {
    compare(a, b) == Ordering::Equal
}

fn compare_documents(a: &Document, b: &Document) -> Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
        let ord = type_rank(va)
            .cmp(&type_rank(vb))
            .then_with(|| ka.cmp(kb))
            .then_with(|| compare(va, vb));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

fn compare_arrays(a: &[Bson], b: &[Bson]) -> Ordering {
    for (va, vb) in a.iter().zip(b.iter()) {
        let ord = compare(va, vb);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// A byte key for a value such that values [`equal`] under MongoDB rules get the same key
/// (used for the unique `_id` index). Integral numbers of any numeric type map together.
pub fn unique_key(value: &Bson) -> Vec<u8> {
    let normalized = match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) => match as_i64(value) {
            Some(i) => Bson::Int64(i),
            None => value.clone(),
        },
        other => other.clone(),
    };
    let mut wrapper = Document::new();
    wrapper.insert("k", normalized);
    let mut out = Vec::new();
    // Serializing an in-memory document into a Vec cannot fail for valid BSON values; fall back
    // to the debug form just in case so that this function stays infallible.
    if wrapper.to_writer(&mut out).is_err() {
        out = format!("{value:?}").into_bytes();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    #[test]
    fn numbers_compare_across_types() {
        assert!(equal(&Bson::Int32(1), &Bson::Double(1.0)));
        assert!(equal(&Bson::Int64(5), &Bson::Int32(5)));
        assert_eq!(compare(&Bson::Int32(1), &Bson::Double(1.5)), Ordering::Less);
        assert_eq!(unique_key(&Bson::Int32(7)), unique_key(&Bson::Double(7.0)));
    }

    #[test]
    fn types_are_bracketed() {
        assert_eq!(
            compare(&Bson::Null, &Bson::Int32(0)),
            Ordering::Less,
            "null sorts before numbers"
        );
        assert_eq!(
            compare(&Bson::String("a".into()), &Bson::ObjectId(ObjectId::new())),
            Ordering::Less
        );
    }

    #[test]
    fn documents_compare_in_field_order() {
        let a = Bson::Document(doc! { "a": 1, "b": 2 });
        let b = Bson::Document(doc! { "b": 2, "a": 1 });
        assert!(!equal(&a, &b));
        assert!(equal(&a, &Bson::Document(doc! { "a": 1.0, "b": 2_i64 })));
    }
}
