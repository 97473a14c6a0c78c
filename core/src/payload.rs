//! Event arguments between the wire and JS: a JSON array text in which binary values are
//! socket.io placeholders (`{"_placeholder":true,"num":N}`), plus the binary parts. This is
//! the form socket.io's own parser uses, so JS can rebuild the values with real `Buffer`s.

use std::fmt;

use bytes::Bytes;
use serde::{
    de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor},
    ser::{SerializeMap, SerializeSeq, SerializeTuple},
    Deserialize, Deserializer, Serialize, Serializer,
};
use serde_json::{value::RawValue, Map, Number, Value};

/// Event arguments as JSON-array text with placeholders, plus binary attachments.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Payload {
    /// A JSON array, one element per argument.
    pub json: String,
    /// The binary parts, indexed by the placeholders' `num`.
    pub binary: Vec<Bytes>,
}

impl Payload {
    /// Checks that `json` is a JSON array (the arguments' shape) without building its values.
    pub fn check(&self) -> Result<(), serde_json::Error> {
        serde_json::from_str::<Vec<serde::de::IgnoredAny>>(&self.json).map(|_| ())
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A tuple, so that socketioxide hands over every argument rather than the first.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

struct ArgsVisitor;

impl<'de> Visitor<'de> for ArgsVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("event arguments")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
        let mut binary = Vec::new();
        let mut args = Vec::new();
        while let Some(arg) = seq.next_element_seed(ValueSeed { binary: &mut binary })? {
            args.push(arg);
        }
        let json = serde_json::to_string(&args).map_err(de::Error::custom)?;
        Ok(Payload { json, binary })
    }
}

/// Deserializes any value into JSON, replacing binary parts with placeholders.
struct ValueSeed<'a> {
    binary: &'a mut Vec<Bytes>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value or binary data")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(self.placeholder(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(self.placeholder(Bytes::from(v)))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed { binary: self.binary })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed { binary: self.binary })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

impl ValueSeed<'_> {
    fn placeholder(self, bytes: Bytes) -> Value {
        self.binary.push(bytes);
        serde_json::json!({ "_placeholder": true, "num": self.binary.len() - 1 })
    }
}

/// Arguments to send: serialized as several arguments (a tuple) with binary parts restored
/// from the placeholders, so socketioxide emits them as attachments.
pub enum OutgoingArgs {
    /// JSON only: each argument is embedded as is, never re-parsed into a tree.
    Json(Vec<Box<RawValue>>),
    /// With binary parts: the placeholders are swapped back for bytes.
    Binary(Vec<Value>, Vec<Bytes>),
}

impl TryFrom<Payload> for OutgoingArgs {
    type Error = serde_json::Error;

    fn try_from(payload: Payload) -> Result<Self, serde_json::Error> {
        if payload.binary.is_empty() {
            Ok(OutgoingArgs::Json(serde_json::from_str(&payload.json)?))
        } else {
            Ok(OutgoingArgs::Binary(serde_json::from_str(&payload.json)?, payload.binary))
        }
    }
}

impl Serialize for OutgoingArgs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OutgoingArgs::Json(args) => {
                let mut tuple = serializer.serialize_tuple(args.len())?;
                for arg in args {
                    tuple.serialize_element(arg)?;
                }
                tuple.end()
            }
            OutgoingArgs::Binary(args, binary) => {
                let mut tuple = serializer.serialize_tuple(args.len())?;
                for arg in args {
                    tuple.serialize_element(&WithBinary { value: arg, binary })?;
                }
                tuple.end()
            }
        }
    }
}

struct WithBinary<'a> {
    value: &'a Value,
    binary: &'a [Bytes],
}

fn placeholder_index(object: &Map<String, Value>) -> Option<usize> {
    if object.len() != 2 || object.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    object.get("num")?.as_u64().map(|n| n as usize)
}

impl Serialize for WithBinary<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&WithBinary { value: item, binary: self.binary })?;
                }
                seq.end()
            }
            Value::Object(object) => {
                if let Some(bytes) = placeholder_index(object).and_then(|i| self.binary.get(i)) {
                    return serializer.serialize_bytes(bytes);
                }
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object {
                    map.serialize_entry(key, &WithBinary { value, binary: self.binary })?;
                }
                map.end()
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_only_args_are_parsed_without_a_tree() {
        let args =
            OutgoingArgs::try_from(Payload { json: r#"[1,{"a":"é"}]"#.into(), binary: vec![] });
        assert!(matches!(args, Ok(OutgoingArgs::Json(ref v)) if v.len() == 2));
    }

    #[test]
    fn placeholders_are_recognized_only_when_exact() {
        let exact = serde_json::json!({ "_placeholder": true, "num": 0 });
        let extra = serde_json::json!({ "_placeholder": true, "num": 0, "x": 1 });
        assert_eq!(placeholder_index(exact.as_object().unwrap()), Some(0));
        assert_eq!(placeholder_index(extra.as_object().unwrap()), None);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(OutgoingArgs::try_from(Payload { json: "[1,".into(), binary: vec![] }).is_err());
    }
}
