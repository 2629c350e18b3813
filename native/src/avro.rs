//! Avro binary to MessagePack, compiled once from a writer schema.
//!
//! `schemas/codec.py` compiles an [`AvroTranscoder`] from the latest writer schema of a
//! subject (the schema JSON as fastavro parsed it) and hands it record bodies; the
//! MessagePack it returns is what `msgspec` decodes straight into the subject's Struct.
//! fastavro stays the reference: on any error here the caller decodes the record with
//! fastavro, so this side may refuse more than fastavro does (it is strict where
//! fastavro is lenient: booleans other than 0/1, ints beyond 32 bits, negative enum or
//! union indexes, over-long varints) but must never accept what fastavro rejects, nor
//! give another value.
//!
//! How values travel (the shapes fastavro's reader gives, as msgspec reads them back):
//! records are maps keyed by field name, enums their symbol, unions the branch's value,
//! `bytes`/`fixed` bin, `float` float32; `timestamp-millis`/`-micros` the MessagePack
//! timestamp extension (an aware UTC datetime); `date`, `time-millis`/`-micros`,
//! `local-timestamp-*`, `uuid` and `decimal` their ISO / decimal text, which msgspec
//! parses into the Struct's `date`, `time`, naive `datetime`, `UUID` or `Decimal`
//! field (a `str` field would take the text where fastavro gives an object: declare
//! the type the logical type stands for).
//!
//! Bounds: every read is checked against the end of the body; lengths and block
//! counts must fit in what is left of it; a string must be UTF-8; nesting is limited
//! to [`MAX_DEPTH`]; the whole body must be consumed. Errors never panic.

use std::collections::HashMap;
use std::fmt;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Nested records, arrays, maps and unions deeper than this are refused (a recursive
/// schema could otherwise recurse once per input byte).
pub const MAX_DEPTH: u32 = 64;
/// Items that take no bytes (null, an empty record) allowed in one array or map: their
/// count cannot be checked against the bytes left.
const MAX_EMPTY_ITEMS: u64 = 65_536;

// -- the schema: a small JSON reader --------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str_at(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Json::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn int_at(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Json::Num(n)) => n.parse().ok(),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> JsonParser<'a> {
    fn parse(text: &'a str) -> Result<Json, String> {
        let mut p = JsonParser { s: text.as_bytes(), pos: 0, depth: 0 };
        let v = p.value()?;
        p.ws();
        if p.pos != p.s.len() {
            return Err(format!("schema JSON: unexpected text at {}", p.pos));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("schema JSON: {what} at {}", self.pos))
    }

    fn lit(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            self.err("bad literal")
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let Some(&c) = self.s.get(self.pos) else { return self.err("unexpected end") };
        match c {
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth > 256 {
                    return self.err("nested too deeply");
                }
                let v = if c == b'{' { self.object() } else { self.array() };
                self.depth -= 1;
                v
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.lit("true", Json::Bool(true)),
            b'f' => self.lit("false", Json::Bool(false)),
            b'n' => self.lit("null", Json::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while self.pos < self.s.len() && matches!(self.s[self.pos], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.pos += 1;
                }
                Ok(Json::Num(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()))
            }
            _ => self.err("unexpected character"),
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.pos += 1;
        let mut kv = Vec::new();
        self.ws();
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Json::Obj(kv));
        }
        loop {
            self.ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return self.err("expected a key");
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.pos) != Some(&b':') {
                return self.err("expected ':'");
            }
            self.pos += 1;
            kv.push((k, self.value()?));
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Obj(kv));
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return self.err("expected ',' or ']'"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let Some(h) = self.s.get(self.pos..self.pos + 4) else { return self.err("short \\u escape") };
        let Some(v) = std::str::from_utf8(h).ok().and_then(|h| u32::from_str_radix(h, 16).ok()) else {
            return self.err("bad \\u escape");
        };
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else { return self.err("unterminated string") };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else { return self.err("unterminated escape") };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return self.err("lone surrogate");
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("lone surrogate");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(ch) => ch,
                                None => return self.err("lone surrogate"),
                            }
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("string is not UTF-8"))
    }
}

// -- the compiled schema --------------------------------------------------------------

#[derive(Debug, Clone)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    /// Each symbol already as a MessagePack string.
    Enum(Vec<Vec<u8>>),
    Array(usize),
    Map(usize),
    Union(Vec<usize>),
    /// (field name as a MessagePack string, its node), in the writer's order.
    Record(Vec<(Vec<u8>, usize)>),
    TimestampMillis,
    TimestampMicros,
    LocalTimestampMillis,
    LocalTimestampMicros,
    Date,
    TimeMillis,
    TimeMicros,
    Uuid,
    Decimal { precision: u32, scale: u32, fixed: Option<usize> },
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

struct Compiler {
    nodes: Vec<Node>,
    names: HashMap<String, usize>,
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

fn namespace_of(full: &str) -> &str {
    full.rfind('.').map_or("", |i| &full[..i])
}

impl Compiler {
    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn primitive(name: &str) -> Option<Node> {
        Some(match name {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" => Node::Int,
            "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::String,
            _ => return None,
        })
    }

    fn reference(&mut self, name: &str, ns: &str) -> Result<usize, String> {
        if let Some(n) = Self::primitive(name) {
            return Ok(self.push(n));
        }
        self.names
            .get(&full_name(name, ns))
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| format!("unknown type {name:?}"))
    }

    /// Registers a named type's full name before its body, so a record can refer to itself.
    fn named(&mut self, schema: &Json, ns: &str) -> Result<(usize, String), String> {
        let name = schema.str_at("name").ok_or("a named type without a name")?;
        let ns = schema.str_at("namespace").unwrap_or(ns);
        let full = full_name(name, ns);
        let idx = self.push(Node::Null);
        if self.names.insert(full.clone(), idx).is_some() {
            return Err(format!("type {full:?} defined twice"));
        }
        Ok((idx, full))
    }

    fn compile(&mut self, schema: &Json, ns: &str) -> Result<usize, String> {
        match schema {
            Json::Str(name) => self.reference(name, ns),
            Json::Arr(branches) => {
                let b = branches.iter().map(|s| self.compile(s, ns)).collect::<Result<Vec<_>, _>>()?;
                Ok(self.push(Node::Union(b)))
            }
            Json::Obj(_) => match schema.get("type") {
                Some(Json::Str(t)) => self.compile_typed(schema, t, ns),
                Some(inner @ (Json::Obj(_) | Json::Arr(_))) => self.compile(inner, ns),
                _ => Err("a schema object without a type".into()),
            },
            _ => Err("not a schema".into()),
        }
    }

    fn compile_typed(&mut self, schema: &Json, t: &str, ns: &str) -> Result<usize, String> {
        if PRIMITIVES.contains(&t) {
            // The logical types fastavro reads (its LOGICAL_READERS); any other is the plain type.
            let logical = match (t, schema.str_at("logicalType")) {
                ("long", Some("timestamp-millis")) => Some(Node::TimestampMillis),
                ("long", Some("timestamp-micros")) => Some(Node::TimestampMicros),
                ("long", Some("local-timestamp-millis")) => Some(Node::LocalTimestampMillis),
                ("long", Some("local-timestamp-micros")) => Some(Node::LocalTimestampMicros),
                ("int", Some("date")) => Some(Node::Date),
                ("int", Some("time-millis")) => Some(Node::TimeMillis),
                ("long", Some("time-micros")) => Some(Node::TimeMicros),
                ("string", Some("uuid")) => Some(Node::Uuid),
                ("bytes", Some("decimal")) => Some(decimal(schema, None)?),
                _ => None,
            };
            let n = logical.or_else(|| Self::primitive(t)).ok_or("unreachable")?;
            return Ok(self.push(n));
        }
        match t {
            "record" | "error" => {
                let (idx, full) = self.named(schema, ns)?;
                let inner_ns = namespace_of(&full).to_string();
                let Some(Json::Arr(fields)) = schema.get("fields") else { return Err(format!("record {full:?} without fields")) };
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    let name = f.str_at("name").ok_or("a field without a name")?;
                    let ty = f.get("type").ok_or_else(|| format!("field {name:?} without a type"))?;
                    let node = self.compile(ty, &inner_ns)?;
                    out.push((mp_str(name.as_bytes()), node));
                }
                self.nodes[idx] = Node::Record(out);
                Ok(idx)
            }
            "enum" => {
                let (idx, full) = self.named(schema, ns)?;
                let Some(Json::Arr(symbols)) = schema.get("symbols") else { return Err(format!("enum {full:?} without symbols")) };
                let symbols = symbols
                    .iter()
                    .map(|s| match s {
                        Json::Str(s) => Ok(mp_str(s.as_bytes())),
                        _ => Err(format!("enum {full:?}: a symbol is not a string")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.nodes[idx] = Node::Enum(symbols);
                Ok(idx)
            }
            "fixed" => {
                let (idx, full) = self.named(schema, ns)?;
                let size = schema.int_at("size").filter(|s| *s >= 0).ok_or_else(|| format!("fixed {full:?} without a size"))?;
                let size = size as usize;
                self.nodes[idx] =
                    if schema.str_at("logicalType") == Some("decimal") { decimal(schema, Some(size))? } else { Node::Fixed(size) };
                Ok(idx)
            }
            "array" => {
                let items = schema.get("items").ok_or("array without items")?;
                let items = self.compile(items, ns)?;
                Ok(self.push(Node::Array(items)))
            }
            "map" => {
                let values = schema.get("values").ok_or("map without values")?;
                let values = self.compile(values, ns)?;
                Ok(self.push(Node::Map(values)))
            }
            other => self.reference(other, ns),
        }
    }
}

fn decimal(schema: &Json, fixed: Option<usize>) -> Result<Node, String> {
    // Unscaled values travel through an i128: up to 38 digits, 16 bytes.
    let precision = schema.int_at("precision").ok_or("decimal without a precision")?;
    let scale = schema.int_at("scale").unwrap_or(0);
    if !(1..=38).contains(&precision) || !(0..=precision).contains(&scale) {
        return Err(format!("decimal({precision}, {scale}) is not supported"));
    }
    Ok(Node::Decimal { precision: precision as u32, scale: scale as u32, fixed })
}

// -- MessagePack out ------------------------------------------------------------------

fn mp_str(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 5);
    mp_str_header(&mut out, s.len());
    out.extend_from_slice(s);
    out
}

fn mp_str_header(out: &mut Vec<u8>, n: usize) {
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65_536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn mp_bin(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    if n < 256 {
        out.extend_from_slice(&[0xc4, n as u8]);
    } else if n < 65_536 {
        out.push(0xc5);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(b);
}

fn mp_int(out: &mut Vec<u8>, v: i64) {
    if (0..128).contains(&v) {
        out.push(v as u8);
    } else if (-32..0).contains(&v) {
        out.push(v as i8 as u8);
    } else if i32::try_from(v).is_ok() {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn mp_map_header(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if n < 65_536 {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// The timestamp extension (type -1), 96-bit form: nanoseconds, then seconds since the epoch.
fn mp_timestamp(out: &mut Vec<u8>, micros: i64) {
    let (secs, us) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    out.extend_from_slice(&[0xc7, 12, 0xff]);
    out.extend_from_slice(&((us * 1000) as u32).to_be_bytes());
    out.extend_from_slice(&secs.to_be_bytes());
}

// Python's datetime range (0001-01-01 to 9999-12-31T23:59:59.999999), in microseconds
// and days since the Unix epoch: fastavro fails outside it (OverflowError, ValueError).
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;
const MIN_DAYS: i64 = -719_162;
const MAX_DAYS: i64 = 2_932_896;

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn time_text(micros_of_day: i64) -> String {
    let (s, us) = (micros_of_day / 1_000_000, micros_of_day % 1_000_000);
    format!("{:02}:{:02}:{:02}.{:06}", s / 3600, s / 60 % 60, s % 60, us)
}

// -- reading Avro ---------------------------------------------------------------------

/// Why a body was refused (the caller falls back to fastavro, which words the rejection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Truncated,
    TrailingBytes,
    VarintTooLong,
    NegativeLength,
    LengthBeyondRecord,
    InvalidUtf8,
    BadBoolean,
    IntOutOfRange,
    BadEnumIndex,
    BadUnionIndex,
    TooManyItems,
    TooDeep,
    TimestampOutOfRange,
    DecimalOutOfRange,
    WrongType,
    MissingField,
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.left() {
            return Err(Error::Truncated);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A zig-zag varint of at most 10 bytes whose value fits 64 bits.
    fn long(&mut self) -> Result<i64, Error> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let b = *self.data.get(self.pos).ok_or(Error::Truncated)?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(Error::VarintTooLong);
            }
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((n >> 1) as i64 ^ -((n & 1) as i64));
            }
        }
        Err(Error::VarintTooLong)
    }

    fn int(&mut self) -> Result<i32, Error> {
        i32::try_from(self.long()?).map_err(|_| Error::IntOutOfRange)
    }

    /// A length prefix: not negative, and no more than the bytes left.
    fn len(&mut self) -> Result<usize, Error> {
        let n = self.long()?;
        if n < 0 {
            return Err(Error::NegativeLength);
        }
        if n as u64 > self.left() as u64 {
            return Err(Error::LengthBeyondRecord);
        }
        Ok(n as usize)
    }

    fn utf8(&mut self) -> Result<&'a [u8], Error> {
        let n = self.len()?;
        let s = self.take(n)?;
        std::str::from_utf8(s).map_err(|_| Error::InvalidUtf8)?;
        Ok(s)
    }
}

/// A writer schema compiled for [`Transcoder::transcode`].
pub struct Transcoder {
    nodes: Vec<Node>,
    /// Fewest bytes a value of each node takes (bounds block counts).
    min_size: Vec<u64>,
    root: usize,
    /// Why [`Transcoder::write`] does not take this schema, if it does not.
    unwritable: Option<String>,
}

impl Transcoder {
    /// Compiles the schema JSON (Avro's, or fastavro's parsed form of it).
    pub fn compile(schema_json: &str) -> Result<Transcoder, String> {
        let schema = JsonParser::parse(schema_json)?;
        let mut c = Compiler { nodes: Vec::new(), names: HashMap::new() };
        let root = c.compile(&schema, "")?;
        let min_size = min_sizes(&c.nodes);
        let mut t = Transcoder { nodes: c.nodes, min_size, root, unwritable: None };
        t.unwritable = t.why_unwritable();
        Ok(t)
    }

    /// The MessagePack form of the Avro body `data` (all of it: trailing bytes are an error).
    pub fn transcode(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut r = Reader { data, pos: 0 };
        let mut out = Vec::with_capacity(data.len() + data.len() / 2 + 64);
        self.value(self.root, &mut r, &mut out, 0)?;
        if r.pos != data.len() {
            return Err(Error::TrailingBytes);
        }
        Ok(out)
    }

    /// Reads the blocks of an array (`key` false) or map, writing its items; the count.
    fn blocks(&self, item: usize, key: bool, r: &mut Reader, out: &mut Vec<u8>, depth: u32) -> Result<u32, Error> {
        let min = self.min_size[item] + u64::from(key);
        let mut total: u64 = 0;
        loop {
            let count = r.long()?;
            if count == 0 {
                break;
            }
            let count = if count < 0 {
                // A negative count is followed by the block's size in bytes (unused).
                if r.long()? < 0 {
                    return Err(Error::NegativeLength);
                }
                count.checked_neg().ok_or(Error::TooManyItems)? as u64
            } else {
                count as u64
            };
            total += count;
            let fits = if min == 0 { total <= MAX_EMPTY_ITEMS } else { count.checked_mul(min).is_some_and(|b| b <= r.left() as u64) };
            if !fits || total > u64::from(u32::MAX) {
                return Err(Error::TooManyItems);
            }
            for _ in 0..count {
                if key {
                    let k = r.utf8()?;
                    mp_str_header(out, k.len());
                    out.extend_from_slice(k);
                }
                self.value(item, r, out, depth)?;
            }
        }
        Ok(total as u32)
    }

    fn value(&self, node: usize, r: &mut Reader, out: &mut Vec<u8>, depth: u32) -> Result<(), Error> {
        match &self.nodes[node] {
            Node::Null => out.push(0xc0),
            Node::Boolean => match r.take(1)?[0] {
                0 => out.push(0xc2),
                1 => out.push(0xc3),
                _ => return Err(Error::BadBoolean),
            },
            Node::Int => mp_int(out, i64::from(r.int()?)),
            Node::Long => mp_int(out, r.long()?),
            Node::Float => {
                out.push(0xca);
                out.extend(r.take(4)?.iter().rev());
            }
            Node::Double => {
                out.push(0xcb);
                out.extend(r.take(8)?.iter().rev());
            }
            Node::Bytes => {
                let n = r.len()?;
                mp_bin(out, r.take(n)?);
            }
            Node::String | Node::Uuid => {
                let s = r.utf8()?;
                mp_str_header(out, s.len());
                out.extend_from_slice(s);
            }
            Node::Fixed(size) => mp_bin(out, r.take(*size)?),
            Node::Enum(symbols) => {
                let i = r.long()?;
                let s = usize::try_from(i).ok().and_then(|i| symbols.get(i)).ok_or(Error::BadEnumIndex)?;
                out.extend_from_slice(s);
            }
            Node::Union(branches) => {
                let i = r.long()?;
                let b = *usize::try_from(i).ok().and_then(|i| branches.get(i)).ok_or(Error::BadUnionIndex)?;
                self.nested(b, r, out, depth)?;
            }
            Node::Record(fields) => {
                if depth >= MAX_DEPTH {
                    return Err(Error::TooDeep);
                }
                mp_map_header(out, fields.len());
                for (key, f) in fields {
                    out.extend_from_slice(key);
                    self.value(*f, r, out, depth + 1)?;
                }
            }
            Node::Array(item) | Node::Map(item) => {
                if depth >= MAX_DEPTH {
                    return Err(Error::TooDeep);
                }
                let is_map = matches!(self.nodes[node], Node::Map(_));
                // Header with a 32-bit count, filled in once the blocks are read.
                let at = out.len();
                out.extend_from_slice(&[if is_map { 0xdf } else { 0xdd }, 0, 0, 0, 0]);
                let n = self.blocks(*item, is_map, r, out, depth + 1)?;
                out[at + 1..at + 5].copy_from_slice(&n.to_be_bytes());
            }
            Node::TimestampMillis | Node::TimestampMicros | Node::LocalTimestampMillis | Node::LocalTimestampMicros => {
                let v = r.long()?;
                let per = if matches!(self.nodes[node], Node::TimestampMillis | Node::LocalTimestampMillis) { 1000 } else { 1 };
                let us = v.checked_mul(per).filter(|us| (MIN_MICROS..=MAX_MICROS).contains(us)).ok_or(Error::TimestampOutOfRange)?;
                if matches!(self.nodes[node], Node::TimestampMillis | Node::TimestampMicros) {
                    mp_timestamp(out, us);
                } else {
                    // Naive (no zone), as fastavro reads local timestamps.
                    let (days, of_day) = (us.div_euclid(86_400_000_000), us.rem_euclid(86_400_000_000));
                    let (y, m, d) = civil(days);
                    let s = format!("{y:04}-{m:02}-{d:02}T{}", time_text(of_day));
                    mp_str_header(out, s.len());
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Node::Date => {
                let days = i64::from(r.int()?);
                if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
                    return Err(Error::TimestampOutOfRange);
                }
                let (y, m, d) = civil(days);
                let s = format!("{y:04}-{m:02}-{d:02}");
                mp_str_header(out, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            Node::TimeMillis | Node::TimeMicros => {
                let us = if matches!(self.nodes[node], Node::TimeMillis) { i64::from(r.int()?) * 1000 } else { r.long()? };
                if !(0..86_400_000_000).contains(&us) {
                    return Err(Error::TimestampOutOfRange);
                }
                let s = time_text(us);
                mp_str_header(out, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            Node::Decimal { precision, scale, fixed } => {
                let raw = match fixed {
                    Some(size) => r.take(*size)?,
                    None => {
                        let n = r.len()?;
                        r.take(n)?
                    }
                };
                let s = decimal_text(raw, *precision, *scale).ok_or(Error::DecimalOutOfRange)?;
                mp_str_header(out, s.len());
                out.extend_from_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    fn nested(&self, node: usize, r: &mut Reader, out: &mut Vec<u8>, depth: u32) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        self.value(node, r, out, depth + 1)
    }
}

/// `<unscaled>E-<scale>`: the digits and exponent fastavro's Decimal has, when the
/// unscaled value (big-endian two's complement) has no more digits than `precision`
/// (fastavro would round it). None otherwise.
fn decimal_text(raw: &[u8], precision: u32, scale: u32) -> Option<String> {
    if raw.is_empty() {
        return None; // int.from_bytes(b"") is 0; rare enough to leave to fastavro
    }
    // Leading sign-extension bytes beyond 16 are allowed; the value must fit an i128.
    let (head, tail) = raw.split_at(raw.len().saturating_sub(16));
    let negative = raw[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0x00 };
    if head.iter().any(|&b| b != fill) {
        return None;
    }
    let mut buf = [fill; 16];
    buf[16 - tail.len()..].copy_from_slice(tail);
    let v = i128::from_be_bytes(buf);
    if (v < 0) != negative {
        return None;
    }
    let digits = v.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
    if digits > precision {
        return None;
    }
    Some(format!("{v}E-{scale}"))
}

/// A lower bound of the bytes each node's value takes (0 where a recursive type loops).
fn min_sizes(nodes: &[Node]) -> Vec<u64> {
    fn size(i: usize, nodes: &[Node], memo: &mut [Option<u64>], busy: &mut [bool], depth: u32) -> u64 {
        if let Some(v) = memo[i] {
            return v;
        }
        if busy[i] || depth > 256 {
            return 0;
        }
        busy[i] = true;
        let v = match &nodes[i] {
            Node::Null => 0,
            Node::Float => 4,
            Node::Double => 8,
            Node::Fixed(n) => *n as u64,
            Node::Decimal { fixed: Some(n), .. } => *n as u64,
            Node::Union(b) => 1 + b.iter().map(|&j| size(j, nodes, memo, busy, depth + 1)).min().unwrap_or(0),
            Node::Record(f) => f.iter().map(|&(_, j)| size(j, nodes, memo, busy, depth + 1)).fold(0u64, u64::saturating_add),
            _ => 1,
        };
        busy[i] = false;
        memo[i] = Some(v);
        v
    }
    let mut memo = vec![None; nodes.len()];
    let mut busy = vec![false; nodes.len()];
    (0..nodes.len()).map(|i| size(i, nodes, &mut memo, &mut busy, 0)).collect()
}

// -- writing Avro (from MessagePack) --------------------------------------------------
//
// The reverse, for the outputs (results, alerts, rejections): a record msgspec encoded
// as MessagePack becomes the Avro body fastavro's schemaless_writer would write, byte
// for byte. Only what has one reading is taken: unions of null and one other type (nil
// picks null), timestamps as the timestamp extension or an int, no bytes or fixed (the
// Structs fastavro is handed carry them as base64 text); anything else (a naive
// datetime, which msgspec writes as text and fastavro reads in local time; a missing
// field, which fastavro fills from its default; an unknown symbol) is an error, and the
// caller writes that record with fastavro.

/// One MessagePack value's head: scalars with their payload, containers with their count.
enum Mp<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    /// An unsigned int above i64::MAX.
    Big(u64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    /// Bytes (never written: see above).
    Bin,
    Array(usize),
    Map(usize),
    Ext(i8, &'a [u8]),
}

impl<'a> Reader<'a> {
    fn be<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut b = [0u8; N];
        b.copy_from_slice(self.take(N)?);
        Ok(b)
    }

    fn mp_len(&mut self, width: u8) -> Result<usize, Error> {
        Ok(match width {
            1 => usize::from(self.take(1)?[0]),
            2 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn mp(&mut self) -> Result<Mp<'a>, Error> {
        let m = self.take(1)?[0];
        Ok(match m {
            0x00..=0x7f => Mp::Int(i64::from(m)),
            0xe0..=0xff => Mp::Int(i64::from(m as i8)),
            0x80..=0x8f => Mp::Map(usize::from(m & 0x0f)),
            0x90..=0x9f => Mp::Array(usize::from(m & 0x0f)),
            0xa0..=0xbf => Mp::Str(self.take(usize::from(m & 0x1f))?),
            0xc0 => Mp::Nil,
            0xc2 => Mp::Bool(false),
            0xc3 => Mp::Bool(true),
            0xc4..=0xc6 => {
                let n = self.mp_len(1 << (m - 0xc4))?;
                self.take(n)?;
                Mp::Bin
            }
            0xc7..=0xc9 => {
                let n = self.mp_len(1 << (m - 0xc7))?;
                let t = self.take(1)?[0] as i8;
                Mp::Ext(t, self.take(n)?)
            }
            0xca => Mp::F32(f32::from_be_bytes(self.be()?)),
            0xcb => Mp::F64(f64::from_be_bytes(self.be()?)),
            0xcc => Mp::Int(i64::from(self.take(1)?[0])),
            0xcd => Mp::Int(i64::from(u16::from_be_bytes(self.be()?))),
            0xce => Mp::Int(i64::from(u32::from_be_bytes(self.be()?))),
            0xcf => {
                let v = u64::from_be_bytes(self.be()?);
                i64::try_from(v).map_or(Mp::Big(v), Mp::Int)
            }
            0xd0 => Mp::Int(i64::from(self.take(1)?[0] as i8)),
            0xd1 => Mp::Int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Mp::Int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Mp::Int(i64::from_be_bytes(self.be()?)),
            0xd4..=0xd8 => {
                let t = self.take(1)?[0] as i8;
                Mp::Ext(t, self.take(1 << (m - 0xd4))?)
            }
            0xd9..=0xdb => {
                let n = self.mp_len(1 << (m - 0xd9))?;
                Mp::Str(self.take(n)?)
            }
            0xdc | 0xdd => Mp::Array(self.mp_len(2 << (m - 0xdc))?),
            0xde | 0xdf => Mp::Map(self.mp_len(2 << (m - 0xde))?),
            0xc1 => return Err(Error::WrongType),
        })
    }

    /// Past one whole MessagePack value.
    fn skip_mp(&mut self, depth: u32) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        match self.mp()? {
            Mp::Array(n) => (0..n).try_for_each(|_| self.skip_mp(depth + 1)),
            Mp::Map(n) => (0..2 * n).try_for_each(|_| self.skip_mp(depth + 1)),
            _ => Ok(()),
        }
    }
}

fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// The payload of a MessagePack string this module encoded (its header stripped).
fn mp_payload(s: &[u8]) -> &[u8] {
    let head = match s.first() {
        Some(0xd9) => 2,
        Some(0xda) => 3,
        Some(0xdb) => 5,
        _ => 1,
    };
    &s[head.min(s.len())..]
}

/// Seconds and nanoseconds of a MessagePack timestamp extension (its three sizes).
fn mp_time(data: &[u8]) -> Result<(i64, i64), Error> {
    Ok(match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().map_err(|_| Error::WrongType)?)), 0),
        8 => {
            let v = u64::from_be_bytes(data.try_into().map_err(|_| Error::WrongType)?);
            ((v & 0x3_ffff_ffff) as i64, (v >> 34) as i64)
        }
        12 => {
            let nanos = u32::from_be_bytes(data[..4].try_into().map_err(|_| Error::WrongType)?);
            (i64::from_be_bytes(data[4..].try_into().map_err(|_| Error::WrongType)?), i64::from(nanos))
        }
        _ => return Err(Error::WrongType),
    })
}

impl Transcoder {
    /// Err naming the first construct [`Transcoder::write`] does not take.
    pub fn check_writable(&self) -> Result<(), String> {
        self.unwritable.clone().map_or(Ok(()), Err)
    }

    fn why_unwritable(&self) -> Option<String> {
        for n in &self.nodes {
            match n {
                Node::Union(b) if b.len() != 2 || b.iter().filter(|&&i| matches!(self.nodes[i], Node::Null)).count() != 1 => {
                    return Some("writing: only unions of null and one other type".into())
                }
                // fastavro is handed Structs as msgspec.to_builtins makes them, where
                // bytes are base64 text: only text, numbers and timestamps read alike.
                Node::Bytes
                | Node::Fixed(_)
                | Node::LocalTimestampMillis
                | Node::LocalTimestampMicros
                | Node::Date
                | Node::TimeMillis
                | Node::TimeMicros
                | Node::Uuid
                | Node::Decimal { .. } => return Some(format!("writing: {n:?} is not supported")),
                _ => {}
            }
        }
        None
    }

    /// `prefix` then the Avro body of the MessagePack record `data` (all of it).
    pub fn write(&self, data: &[u8], prefix: &[u8]) -> Result<Vec<u8>, Error> {
        if self.unwritable.is_some() {
            return Err(Error::Unsupported);
        }
        let mut r = Reader { data, pos: 0 };
        let mut out = Vec::with_capacity(prefix.len() + data.len());
        out.extend_from_slice(prefix);
        self.put(self.root, &mut r, &mut out, 0)?;
        if r.pos != data.len() {
            return Err(Error::TrailingBytes);
        }
        Ok(out)
    }

    fn put(&self, node: usize, r: &mut Reader, out: &mut Vec<u8>, depth: u32) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        let start = r.pos;
        let v = r.mp()?;
        match (&self.nodes[node], v) {
            (Node::Null, Mp::Nil) => {}
            (Node::Boolean, Mp::Bool(b)) => out.push(u8::from(b)),
            (Node::Int, Mp::Int(i)) => put_long(out, i64::from(i32::try_from(i).map_err(|_| Error::IntOutOfRange)?)),
            (Node::Long, Mp::Int(i)) => put_long(out, i),
            (Node::Float, Mp::F32(f)) => out.extend_from_slice(&f.to_le_bytes()),
            (Node::Float, Mp::F64(f)) => out.extend_from_slice(&(f as f32).to_le_bytes()),
            (Node::Double, Mp::F64(f)) => out.extend_from_slice(&f.to_le_bytes()),
            (Node::Double, Mp::F32(f)) => out.extend_from_slice(&f64::from(f).to_le_bytes()),
            // Python converts an int to the nearest double, as these casts do.
            (Node::Double, Mp::Int(i)) => out.extend_from_slice(&(i as f64).to_le_bytes()),
            (Node::Double, Mp::Big(u)) => out.extend_from_slice(&(u as f64).to_le_bytes()),
            (Node::String, Mp::Str(s)) => put_bytes(out, s),
            (Node::Enum(symbols), Mp::Str(s)) => {
                let i = symbols.iter().position(|sym| mp_payload(sym) == s).ok_or(Error::BadEnumIndex)?;
                put_long(out, i as i64);
            }
            (Node::Array(item), Mp::Array(n)) => {
                if n > 0 {
                    put_long(out, n as i64);
                    for _ in 0..n {
                        self.put(*item, r, out, depth + 1)?;
                    }
                }
                out.push(0);
            }
            (Node::Map(values), Mp::Map(n)) => {
                if n > 0 {
                    put_long(out, n as i64);
                    for _ in 0..n {
                        let Mp::Str(k) = r.mp()? else { return Err(Error::WrongType) };
                        put_bytes(out, k);
                        self.put(*values, r, out, depth + 1)?;
                    }
                }
                out.push(0);
            }
            (Node::Union(branches), v) => {
                let null = branches.iter().position(|&b| matches!(self.nodes[b], Node::Null)).ok_or(Error::BadUnionIndex)?;
                if matches!(v, Mp::Nil) {
                    put_long(out, null as i64);
                } else {
                    // The value again, read as the other branch.
                    let other = 1 - null;
                    put_long(out, other as i64);
                    r.pos = start;
                    self.put(branches[other], r, out, depth + 1)?;
                }
            }
            (Node::Record(fields), Mp::Map(n)) => {
                // Fields in the writer's order, wherever the record has them.
                let mut at: Vec<(&[u8], usize)> = Vec::with_capacity(n.min(r.left()));
                for _ in 0..n {
                    let Mp::Str(k) = r.mp()? else { return Err(Error::WrongType) };
                    at.push((k, r.pos));
                    r.skip_mp(depth + 1)?;
                }
                let end = r.pos;
                for (key, f) in fields {
                    let name = mp_payload(key);
                    let &(_, pos) = at.iter().find(|(k, _)| *k == name).ok_or(Error::MissingField)?;
                    r.pos = pos;
                    self.put(*f, r, out, depth + 1)?;
                }
                r.pos = end;
            }
            (Node::TimestampMillis | Node::TimestampMicros, Mp::Ext(-1, data)) => {
                let (secs, nanos) = mp_time(data)?;
                let v = if matches!(self.nodes[node], Node::TimestampMillis) {
                    secs.checked_mul(1000).and_then(|ms| ms.checked_add(nanos / 1_000_000))
                } else {
                    secs.checked_mul(1_000_000).and_then(|us| us.checked_add(nanos / 1000))
                };
                put_long(out, v.ok_or(Error::TimestampOutOfRange)?);
            }
            (Node::TimestampMillis | Node::TimestampMicros, Mp::Int(i)) => put_long(out, i),
            _ => return Err(Error::WrongType),
        }
        Ok(())
    }
}

// -- Python ---------------------------------------------------------------------------

/// An Avro writer schema compiled to turn record bodies into MessagePack.
#[pyclass(frozen, module = "cargowatch_native")]
pub struct AvroTranscoder {
    inner: Transcoder,
}

#[pymethods]
impl AvroTranscoder {
    /// `schema`: the writer schema as JSON. ValueError when it uses what is not supported.
    #[new]
    fn new(schema: &str) -> PyResult<Self> {
        Transcoder::compile(schema).map(|inner| AvroTranscoder { inner }).map_err(PyValueError::new_err)
    }

    /// ValueError when [`AvroTranscoder::write`] does not take this schema.
    fn check_writable(&self) -> PyResult<()> {
        self.inner.check_writable().map_err(PyValueError::new_err)
    }

    /// `prefix` + the Avro body of the MessagePack record `data`; ValueError (naming the
    /// problem) when the record is not one this side writes as fastavro would.
    fn write<'py>(&self, py: Python<'py>, data: &[u8], prefix: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        match self.inner.write(data, prefix) {
            Ok(out) => Ok(PyBytes::new(py, &out)),
            Err(e) => Err(PyValueError::new_err(e.to_string())),
        }
    }

    /// The MessagePack form of the Avro body at `data[offset:]`; ValueError (naming the
    /// problem) when that is not exactly one record of the schema.
    fn transcode<'py>(&self, py: Python<'py>, data: &[u8], offset: usize) -> PyResult<Bound<'py, PyBytes>> {
        let body = data.get(offset..).ok_or_else(|| PyValueError::new_err("offset beyond the data"))?;
        match self.inner.transcode(body) {
            Ok(out) => Ok(PyBytes::new(py, &out)),
            Err(e) => Err(PyValueError::new_err(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type": "record", "name": "T", "namespace": "x", "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "int"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "w", "type": "double"},
        {"name": "next", "type": ["null", "x.T"], "default": null}]}"#;

    fn zz(v: i64) -> Vec<u8> {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
        out
    }

    fn s(text: &str) -> Vec<u8> {
        let mut out = zz(text.len() as i64);
        out.extend_from_slice(text.as_bytes());
        out
    }

    fn record() -> Vec<u8> {
        let mut b = s("M1");
        b.extend(zz(3));
        b.extend(zz(1));
        b.extend(zz(1_764_000_000_123));
        b.extend(zz(1));
        b.extend(s("héllo"));
        b.extend(zz(2));
        b.extend(s("a"));
        b.extend(s("bc"));
        b.extend(zz(0));
        b.extend(2.5f64.to_le_bytes());
        b.extend(zz(0));
        b
    }

    #[test]
    fn reads_a_record_into_messagepack() {
        let t = Transcoder::compile(SCHEMA).unwrap();
        let out = t.transcode(&record()).unwrap();
        assert_eq!(out[0], 0x88); // a map of 8 fields
        assert_eq!(&out[1..4], b"\xa2id");
        assert_eq!(&out[4..7], b"\xa2M1");
        let ts = [0xc7, 12, 0xff];
        let at = out.windows(3).position(|w| w == ts).unwrap();
        let nanos = u32::from_be_bytes(out[at + 3..at + 7].try_into().unwrap());
        let secs = i64::from_be_bytes(out[at + 7..at + 15].try_into().unwrap());
        assert_eq!((secs, nanos), (1_764_000_000, 123_000_000));
        assert!(out.ends_with(b"\xa4next\xc0"));
    }

    #[test]
    fn every_truncation_and_any_trailing_byte_is_an_error() {
        let t = Transcoder::compile(SCHEMA).unwrap();
        let full = record();
        for cut in 0..full.len() {
            assert!(t.transcode(&full[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = full.clone();
        long.push(0);
        assert_eq!(t.transcode(&long), Err(Error::TrailingBytes));
    }

    #[test]
    fn bad_lengths_indexes_and_text_are_errors() {
        let t = Transcoder::compile(SCHEMA).unwrap();
        let tail = &record()[3..];
        let with_head = |head: Vec<u8>| {
            let mut b = head;
            b.extend_from_slice(tail);
            t.transcode(&b)
        };
        assert_eq!(with_head(zz(-2)), Err(Error::NegativeLength));
        assert_eq!(with_head(zz(i64::MAX)), Err(Error::LengthBeyondRecord));
        assert_eq!(with_head(vec![0xff; 11]), Err(Error::VarintTooLong));
        assert_eq!(with_head(vec![4, 0xc3, 0x28]), Err(Error::InvalidUtf8));
        assert_eq!(with_head(vec![6, 0xed, 0xa0, 0x80]), Err(Error::InvalidUtf8)); // a surrogate
        // enum index 2 of 2 symbols, union index 2 of 2 branches, and an int beyond 32 bits
        let mut b = s("M1");
        b.extend(zz(3));
        assert_eq!(t.transcode(&[b.clone(), zz(2), record()[5..].to_vec()].concat()), Err(Error::BadEnumIndex));
        assert_eq!(t.transcode(&[s("M1"), zz(1 << 40)].concat()), Err(Error::IntOutOfRange));
        let mut r = record();
        let last = r.len() - 1;
        r[last] = 4; // union index 2
        assert_eq!(t.transcode(&r), Err(Error::BadUnionIndex));
    }

    #[test]
    fn absurd_block_counts_and_deep_nesting_are_errors() {
        let t = Transcoder::compile(r#"{"type": "array", "items": "string"}"#).unwrap();
        assert_eq!(t.transcode(&[zz(1 << 40), s("a"), zz(0)].concat()), Err(Error::TooManyItems));
        assert_eq!(t.transcode(&[zz(i64::MIN), zz(0)].concat()), Err(Error::TooManyItems));
        assert!(t.transcode(&[zz(-2), zz(4), s("a"), s("b"), zz(0)].concat()).is_ok());
        let nulls = Transcoder::compile(r#"{"type": "array", "items": "null"}"#).unwrap();
        assert_eq!(nulls.transcode(&[zz(1 << 20), zz(0)].concat()), Err(Error::TooManyItems));
        let list = Transcoder::compile(r#"{"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]}"#).unwrap();
        let deep: Vec<u8> = std::iter::repeat(2u8).take(10_000).chain([0u8]).collect();
        assert_eq!(list.transcode(&deep), Err(Error::TooDeep));
        assert!(list.transcode(&[2, 2, 0]).is_ok());
    }

    #[test]
    fn logical_types_as_text() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(MIN_DAYS), (1, 1, 1));
        assert_eq!(civil(MAX_DAYS), (9999, 12, 31));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(decimal_text(&[0x30, 0x39], 5, 2).as_deref(), Some("12345E-2"));
        assert_eq!(decimal_text(&[0xcf, 0xc7], 5, 2).as_deref(), Some("-12345E-2"));
        assert_eq!(decimal_text(&[0x30, 0x39], 4, 2), None);
        assert_eq!(time_text(3_723_000_004), "01:02:03.000004");
    }

    #[test]
    fn writing_reverses_reading_and_refuses_what_it_cannot_write_alike() {
        let t = Transcoder::compile(SCHEMA).unwrap();
        t.check_writable().unwrap();
        let avro = record();
        let mp = t.transcode(&avro).unwrap();
        assert_eq!(t.write(&mp, b"\x00\x00\x00\x00\x03").unwrap(), [&b"\x00\x00\x00\x00\x03"[..], &avro].concat());
        for cut in 0..mp.len() {
            assert!(t.write(&mp[..cut], b"").is_err(), "cut at {cut}");
        }
        let mut unknown = mp.clone();
        let at = unknown.windows(2).position(|w| w == b"\xa1B").unwrap();
        unknown[at + 1] = b'Z'; // enum symbol "Z"
        assert_eq!(t.write(&unknown, b""), Err(Error::BadEnumIndex));
        let mut renamed = mp.clone();
        let at = renamed.windows(3).position(|w| w == b"\xa2id").unwrap();
        renamed[at + 1] = b'x'; // field "xd" instead of "id"
        assert_eq!(t.write(&renamed, b""), Err(Error::MissingField));
        assert!(Transcoder::compile(r#"["null", "int", "string"]"#).unwrap().check_writable().is_err());
        let bytes = Transcoder::compile(r#"["null", "bytes", "string"]"#).unwrap();
        assert!(bytes.check_writable().is_err());
        assert_eq!(bytes.write(b"\xa1a", b""), Err(Error::Unsupported)); // refused even unchecked
        let ts = Transcoder::compile(r#"{"type": "long", "logicalType": "timestamp-millis"}"#).unwrap();
        let far = [&b"\xc7\x0c\xff\x3b\x9a\xc9\xff"[..], &i64::MAX.to_be_bytes()].concat(); // the last second of i64
        assert_eq!(ts.write(&far, b""), Err(Error::TimestampOutOfRange));
        let wide = [&b"\xdf"[..], &u32::MAX.to_be_bytes()].concat(); // a map of 4 billion entries, no bytes
        assert!(t.write(&wide, b"").is_err());
    }

    #[test]
    fn schema_errors_are_reported_not_panics() {
        for bad in ["", "{", r#"{"type": "record", "name": "R"}"#, r#""Nope""#, r#"{"type": "fixed", "name": "F"}"#, "[1]"] {
            assert!(Transcoder::compile(bad).is_err(), "{bad}");
        }
    }
}
