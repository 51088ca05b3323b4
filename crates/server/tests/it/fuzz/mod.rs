//! Fuzzing of every parser of outside input, as plain tests on stable Rust.
//!
//! Each target is a function from bytes to nothing that must not panic (and checks its own
//! properties, such as the calendar's round trip). The engine feeds it the target's corpus
//! (`crates/server/tests/fuzz-corpus/<target>/`, real request examples) and then inputs made by
//! mutating them: bytes flipped, inserted, deleted, repeated, words of the target's dictionary
//! spliced in, and, for JSON and form bodies, values replaced with ones of other types, huge
//! numbers, blank, long or unusual text. Inputs come from a seeded generator, so a run is
//! reproducible from its seed.
//!
//! - Short run (every `cargo test`): [`DEFAULT_ITERATIONS`] inputs per target.
//! - Soak: `TELEMED_FUZZ_ITERATIONS=10000000 cargo test -p server --test it fuzz:: -- --test-threads 1 --nocapture`.
//! - `TELEMED_FUZZ_SEED=N` starts the generator elsewhere (the default is the same every run).
//!
//! A panic stops the target: the input is written to `target/tmp/fuzz-crashes/<target>/` and
//! the test fails naming the file, the seed and the input.

mod api;
mod ics;
mod inputs;
mod signaling;
mod web;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

/// Inputs per target in an ordinary test run.
pub const DEFAULT_ITERATIONS: u64 = 3_000;

/// The longest input the mutations grow (bodies past it are cut back).
const MAX_LEN: usize = 8 * 1024;

/// A small, fast generator (SplitMix64): the same seed gives the same inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Text that parsers get wrong: empty, blank, control characters, line breaks, quotes, escapes,
/// right-to-left marks, characters of 2 to 4 bytes, lone surrogates as JSON escapes, numbers at
/// the edges of their types.
pub const TRICKY: &[&str] = &[
    "",
    " ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "\0",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{202e}",
    "\u{feff}",
    "é",
    "Ñúñez",
    "日本語",
    "𝄞",
    "👩🏽‍⚕️",
    "\\",
    "\"",
    "'",
    ",",
    ";",
    ":",
    "=",
    "&",
    "%",
    "%00",
    "%0d%0a",
    "%ZZ",
    "+",
    "//",
    "/../",
    "<script>",
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "0",
    "-0",
    "-1",
    "1e309",
    "-1e309",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "0.1",
    "NaN",
    "null",
    "true",
    "2026-02-29",
    "2026-12-07",
    "9999-12-31",
    "-009999-01-01",
    "2026-12-07T09:00:00Z",
    "2026-12-07T09:00:00+14:00",
    "2026-12-07T09:00:00[America/New_York]",
    "25:61",
    "00000000-0000-0000-0000-000000000000",
    "0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
];

/// A mutation that knows an input's structure: the generator, the input, the dictionary.
pub type Mutation = fn(&mut Rng, &[u8], &[Vec<u8>]) -> Vec<u8>;

/// What one target is: its name (the corpus folder), words to splice into inputs, and an
/// optional mutation that knows the input's structure.
pub struct Target {
    pub name: &'static str,
    pub dictionary: Vec<Vec<u8>>,
    pub structured: Option<Mutation>,
}

impl Target {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            dictionary: TRICKY.iter().map(|w| w.as_bytes().to_vec()).collect(),
            structured: None,
        }
    }

    pub fn words<S: AsRef<str>>(mut self, words: impl IntoIterator<Item = S>) -> Self {
        self.dictionary
            .extend(words.into_iter().map(|w| w.as_ref().as_bytes().to_vec()));
        self
    }

    pub fn structured(mut self, mutate: Mutation) -> Self {
        self.structured = Some(mutate);
        self
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.replace(['_', ','], ""))
        .and_then(|v| v.parse().ok())
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    assert!(!seeds.is_empty(), "no corpus in {}", dir.display());
    seeds
}

/// Runs `target` on the corpus, then on mutated inputs until the iteration count.
pub fn run(target: Target, check: impl Fn(&[u8])) {
    let iterations = env_u64("TELEMED_FUZZ_ITERATIONS").unwrap_or(DEFAULT_ITERATIONS);
    let seed = env_u64("TELEMED_FUZZ_SEED").unwrap_or(0x7e1e_3ed0) ^ fnv(target.name.as_bytes());
    let seeds = corpus(target.name);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut input = Vec::new();
    for i in 0..iterations.max(seeds.len() as u64) {
        input.clear();
        if (i as usize) < seeds.len() {
            input.extend_from_slice(&seeds[i as usize]);
        } else {
            mutate(&mut rng, &target, &seeds, &mut input);
        }
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let path = save_crash(target.name, &input);
            panic!(
                "fuzz target {} panicked on input {i} (seed {seed}), saved in {}: {:?}",
                target.name,
                path.display(),
                String::from_utf8_lossy(&input[..input.len().min(2000)])
            );
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "fuzz {}: {} inputs in {:.1} s ({:.0}/s), 0 crashes, seed {seed}",
        target.name,
        iterations.max(seeds.len() as u64),
        elapsed.as_secs_f64(),
        iterations as f64 / elapsed.as_secs_f64().max(1e-9)
    );
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn save_crash(target: &str, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-crashes")
        .join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{:016x}", fnv(input)));
    let _ = std::fs::write(&path, input);
    path
}

/// One new input from the corpus: a structured mutation, byte mutations, or both.
fn mutate(rng: &mut Rng, target: &Target, seeds: &[Vec<u8>], out: &mut Vec<u8>) {
    let base = rng.pick(seeds);
    match target.structured {
        Some(structured) if !rng.chance(3) => {
            out.extend_from_slice(&structured(rng, base, &target.dictionary));
            if rng.chance(4) {
                let rounds = 1 + rng.below(3);
                havoc(rng, target, seeds, out, rounds);
            }
        }
        _ => {
            out.extend_from_slice(base);
            let rounds = 1 << rng.below(5);
            havoc(rng, target, seeds, out, rounds);
        }
    }
    out.truncate(MAX_LEN);
}

/// `rounds` byte-level mutations, each one of the usual kinds.
fn havoc(rng: &mut Rng, target: &Target, seeds: &[Vec<u8>], out: &mut Vec<u8>, rounds: usize) {
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(11) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(len + 1);
                let byte = *rng.pick(b"{}[]\":,\\ 0-9aZ\r\n\t&=%+;.\x00\xff\xc3\xe2");
                out.insert(at, byte);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(16));
                out.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                let copy = out[at..at + n].to_vec();
                let to = rng.below(len + 1);
                splice_in(out, to, &copy);
            }
            5 | 6 => {
                let word = rng.pick(&target.dictionary).clone();
                let at = rng.below(len + 1);
                splice_in(out, at, &word);
            }
            7 if len > 0 => {
                let word = rng.pick(&target.dictionary).clone();
                let at = rng.below(len);
                let n = rng.below((len - at).min(16));
                out.splice(at..at + n, word);
            }
            8 => {
                let other = rng.pick(seeds);
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below(other.len() - from);
                    let at = rng.below(len + 1);
                    out.truncate(at);
                    out.extend_from_slice(&other[from..from + n]);
                }
            }
            9 if len > 0 => {
                out.truncate(rng.below(len));
            }
            10 if rng.chance(8) && len > 0 => {
                // A long run: the limits on lengths, and lines folded many times.
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(8));
                let chunk = out[at..at + n].to_vec();
                let times = 1 + rng.below(MAX_LEN / n);
                let run: Vec<u8> = chunk.iter().copied().cycle().take(n * times).collect();
                splice_in(out, at, &run);
            }
            _ => {
                let at = rng.below(len + 1);
                let ch = rng.below(0x11_0000) as u32;
                let ch = char::from_u32(ch).unwrap_or('\u{fffd}');
                let mut buf = [0u8; 4];
                splice_in(out, at, ch.encode_utf8(&mut buf).as_bytes());
            }
        }
        if out.len() > MAX_LEN {
            out.truncate(MAX_LEN);
        }
    }
}

fn splice_in(out: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    out.splice(at..at, bytes.iter().copied());
}

/// A JSON-aware mutation: parses the input and changes one value deep inside (its type, its
/// text, a huge number, a key added or dropped); an input that is not JSON is replaced by a
/// random document.
pub fn mutate_json(rng: &mut Rng, base: &[u8], words: &[Vec<u8>]) -> Vec<u8> {
    let mut value = serde_json::from_slice::<serde_json::Value>(base)
        .unwrap_or_else(|_| random_value(rng, words, 3));
    for _ in 0..1 + rng.below(4) {
        mutate_value(rng, &mut value, words, 0);
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

fn word(rng: &mut Rng, words: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(rng.pick(words).as_slice()).into_owned()
}

fn random_text(rng: &mut Rng, words: &[Vec<u8>]) -> String {
    match rng.below(6) {
        0 => String::new(),
        1 => word(rng, words).repeat(1 + rng.below(3000)),
        2 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?'))
            .collect(),
        _ => (0..1 + rng.below(4)).map(|_| word(rng, words)).collect(),
    }
}

fn random_value(rng: &mut Rng, words: &[Vec<u8>], depth: usize) -> serde_json::Value {
    use serde_json::Value;
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(2)),
        2 => match rng.below(4) {
            0 => Value::from(rng.next() as i64),
            1 => Value::from(rng.below(400) as i64 - 100),
            2 => Value::from(f64::from_bits(rng.next())),
            _ => Value::from(rng.next()),
        },
        3 | 4 => Value::String(random_text(rng, words)),
        5 => Value::Array(
            (0..rng.below(5))
                .map(|_| random_value(rng, words, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(5))
                .map(|_| (word(rng, words), random_value(rng, words, depth - 1)))
                .collect(),
        ),
    }
}

fn mutate_value(rng: &mut Rng, value: &mut serde_json::Value, words: &[Vec<u8>], depth: usize) {
    use serde_json::Value;
    match value {
        Value::Object(map) if !map.is_empty() && depth < 8 && !rng.chance(4) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            match rng.below(8) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let v = random_value(rng, words, 2);
                    map.insert(word(rng, words), v);
                }
                _ => {
                    if let Some(v) = map.get_mut(&key) {
                        mutate_value(rng, v, words, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && depth < 8 && !rng.chance(4) => {
            match rng.below(6) {
                0 => {
                    items.remove(rng.below(items.len()));
                }
                1 => {
                    let copy = rng.pick(items).clone();
                    for _ in 0..1 + rng.below(50) {
                        items.push(copy.clone());
                    }
                }
                _ => {
                    let at = rng.below(items.len());
                    mutate_value(rng, &mut items[at], words, depth + 1);
                }
            }
        }
        Value::String(s) if rng.chance(2) => {
            let w = random_text(rng, words);
            match rng.below(3) {
                0 => *s = w,
                1 => s.push_str(&w),
                _ => *s = format!("{w}{s}"),
            }
        }
        _ => *value = random_value(rng, words, 2),
    }
}

/// A form-aware mutation: reads `name=value&...` pairs and changes one (a value replaced or
/// lengthened, a pair repeated or dropped, a name from the dictionary added), written back
/// encoded, or now and then left raw so that broken escapes reach the parser.
pub fn mutate_form(rng: &mut Rng, base: &[u8], words: &[Vec<u8>]) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(base).unwrap_or_default();
    for _ in 0..1 + rng.below(4) {
        let n = pairs.len();
        match rng.below(6) {
            0 if n > 0 => {
                pairs.remove(rng.below(n));
            }
            1 if n > 0 => {
                let copy = pairs[rng.below(n)].clone();
                pairs.push(copy);
            }
            2 => pairs.push((word(rng, words), random_text(rng, words))),
            _ if n > 0 => {
                let at = rng.below(n);
                let w = random_text(rng, words);
                if rng.chance(2) {
                    pairs[at].1 = w;
                } else {
                    pairs[at].1.push_str(&w);
                }
            }
            _ => pairs.push((word(rng, words), word(rng, words))),
        }
    }
    if rng.chance(5) {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        raw.join("&").into_bytes()
    } else {
        serde_urlencoded::to_string(&pairs)
            .unwrap_or_default()
            .into_bytes()
    }
}

#[test]
fn the_generator_is_reproducible_and_mutations_stay_within_the_length_cap() {
    let target = Target::new("signaling").structured(mutate_json);
    let seeds = vec![br#"{"type":"ping"}"#.to_vec(), b"a=1&b=2".to_vec()];
    let mut a = Rng::new(7);
    let mut b = Rng::new(7);
    for _ in 0..500 {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        mutate(&mut a, &target, &seeds, &mut x);
        mutate(&mut b, &target, &seeds, &mut y);
        assert_eq!(x, y);
        assert!(x.len() <= MAX_LEN);
    }
}
