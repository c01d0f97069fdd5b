//! Property tests of the parsers that take untrusted input: image
//! references, Go templates, registry auth challenges, run's option
//! syntaxes, image manifests and configs, and layer tars. Each must give an
//! answer or an error for anything, never a panic, and the layer unpacker
//! must never write outside its directory. `PROPTEST_CASES=N` runs longer.

use berth::image::layers;
use berth::image::reference::Reference;
use proptest::prelude::*;
use std::path::Path;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings made of the characters these grammars care about.
fn grammar_soup() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-zA-Z0-9:/@._\-+= "{}|$,()\[\]\\\n]{0,80}"#).unwrap()
}

/// Templates made of the template language's own pieces.
fn template_soup() -> impl Strategy<Value = String> {
    // select, not string literals: a &str strategy is a regex.
    proptest::collection::vec(
        proptest::sample::select(vec![
            "{{", "}}", "{{-", "-}}", " ", ".", ".Names", ".Labels", ".N", ".Id", "range", "end",
            "if", "else", "else if", "with", "index", "join", "printf", "json", "len", "lower",
            "split", "table", "|", "$x", ":=", "$", "\"s\"", "`r`", "1", "(", ")", "eq", "not",
            "and", "or", "\\t", "\n",
        ]),
        0..24,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn references_parse_or_refuse_and_round_trip(s in grammar_soup()) {
        if let Ok(r) = Reference::parse(&s, "docker.io") {
            let again = Reference::parse(&r.to_string(), "docker.io").expect("a printed reference parses");
            prop_assert_eq!(again.to_string(), r.to_string());
        }
    }

    #[test]
    fn templates_parse_or_refuse_and_render_without_panic(s in prop_oneof![grammar_soup(), template_soup()]) {
        let v = serde_json::json!({"Names": ["a", "b"], "Id": "x", "Labels": {"k": "v"}, "N": 3});
        if let Ok(t) = berth::format::Template::parse(&s) {
            let _ = t.render(&v);
        }
    }

    #[test]
    fn auth_challenges_never_panic(s in grammar_soup()) {
        let _ = berth::image::auth::parse_challenge(&s);
    }

    #[test]
    fn run_option_syntaxes_never_panic(s in grammar_soup()) {
        use berth::container::opts;
        let _ = opts::parse_restart(&s);
        let _ = opts::parse_size("--memory", &s);
        let _ = opts::parse_volume(&s);
        let _ = opts::parse_mount(&s);
        let _ = opts::parse_ulimit(&s);
        let _ = opts::expand_env(&s);
    }

    #[test]
    fn manifests_and_configs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), s in grammar_soup()) {
        use berth::image::types::{ImageConfig, Manifest};
        for b in [&bytes[..], s.as_bytes()] {
            let _ = serde_json::from_slice::<Manifest>(b);
            let _ = serde_json::from_slice::<ImageConfig>(b);
            let _ = berth::image::types::manifest_kind(b);
        }
    }
}

/// One tar entry of a hostile layer.
#[derive(Debug, Clone)]
enum Entry {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(vec![
            "a",
            "b",
            "..",
            ".",
            "",
            ".wh.a",
            ".wh..wh..opq",
            "/",
            "out",
        ]),
        1..5,
    )
    .prop_map(|v| v.join("/"))
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (path(), proptest::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(p, d)| Entry::File(p, d)),
        path().prop_map(Entry::Dir),
        (path(), path()).prop_map(|(p, t)| Entry::Symlink(p, t)),
        (path(), path()).prop_map(|(p, t)| Entry::Hardlink(p, t)),
    ]
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        let (name, kind, data, link): (&str, _, &[u8], Option<&str>) = match e {
            Entry::File(p, d) => (p, tar::EntryType::Regular, d, None),
            Entry::Dir(p) => (p, tar::EntryType::Directory, &[], None),
            Entry::Symlink(p, t) => (p, tar::EntryType::Symlink, &[], Some(t)),
            Entry::Hardlink(p, t) => (p, tar::EntryType::Link, &[], Some(t)),
        };
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        // Raw names: the builder's own checks would refuse what an
        // attacker's tar holds.
        let raw = name.as_bytes();
        if raw.is_empty() || raw.len() > 99 {
            continue;
        }
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        if let Some(l) = link {
            let l = l.as_bytes();
            if l.len() > 99 {
                continue;
            }
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn files_under(d: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            out.push(e.path().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(files_under(&e.path()));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_layer_never_writes_outside_its_directory(entries in proptest::collection::vec(entry(), 1..8)) {
        let t = test_support::TempDir::new("berth-fuzz-layer");
        let dest = t.path().join("layer");
        let outside = t.path().join("out");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let _ = layers::unpack(&tar_of(&entries)[..], &dest);
        prop_assert_eq!(files_under(&outside), Vec::<String>::new());
        let top: Vec<String> = std::fs::read_dir(t.path()).unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        prop_assert_eq!(top.len(), 2, "something appeared next to the layer: {:?}", top);
    }
}
