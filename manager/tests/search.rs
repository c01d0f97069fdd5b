//! Registry commands of issue 16: `search` (docker's columns, `--limit`, `--filter`, `--format`)
//! against a registry's search endpoint (a small one of the test's own) and a plain
//! registry's catalog (Debian's docker-registry); `push --all-tags`.

mod common;

use common::registry::Registry;
use common::{busybox_tar, Env};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

fn cells(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| {
            l.split("   ")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn search_a_plain_registry_through_its_catalog() {
    let reg = Registry::start();
    let e = Env::new("search");
    let tar = busybox_tar(e.dir.path(), &[]);
    e.ok(&["import", tar.to_str().unwrap(), "localhost/bb:1"]);
    for repo in ["lib/busybox", "tools/busybox-extra", "lib/other"] {
        let t = format!("{}/{repo}:1", reg.host());
        e.ok(&["tag", "localhost/bb:1", &t]);
        e.ok(&["push", &t]);
    }
    let h = reg.host();
    let out = e.ok(&["search", &format!("{h}/busybox")]);
    // docker's table: each column as wide as its widest cell + 3, at least 10.
    let w = format!("{h}/tools/busybox-extra").len() + 3;
    assert_eq!(
        out.lines().next().unwrap(),
        format!("{:<w$}DESCRIPTION   STARS     OFFICIAL   AUTOMATED", "NAME"),
        "{out}"
    );
    let rows = cells(&out);
    assert_eq!(rows[1], [format!("{h}/lib/busybox"), "0".into()]);
    assert_eq!(rows[2], [format!("{h}/tools/busybox-extra"), "0".into()]);
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(
        e.ok(&[
            "search",
            "--limit",
            "1",
            "--format",
            "{{.Name}}",
            &format!("{h}/busybox")
        ]),
        format!("{h}/lib/busybox\n")
    );
    // Nothing official there: the header alone.
    let out = e.ok(&[
        "search",
        "--filter",
        "is-official=true",
        &format!("{h}/busybox"),
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = e.ok(&[
        "search",
        "-f",
        "stars=0",
        "--format",
        "{{.Name}}",
        &format!("{h}/other"),
    ]);
    assert_eq!(out, format!("{h}/lib/other\n"));
    // Bad input: one line, before any request.
    let err = e.fails(&["search", "--limit", "0", &format!("{h}/busybox")]);
    assert_eq!(err, "berth: limit 0 is outside the range of [1, 100]\n");
    let err = e.fails(&["search", "--filter", "colour=red", &format!("{h}/busybox")]);
    assert_eq!(err, "berth: invalid filter 'colour'\n");
}

/// A registry with docker's index search API: answers /v1/search only.
fn index_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
            }
            let _ = tx.send(first.clone());
            let body = if first.starts_with("GET /v1/search?q=busy") {
                r#"{"num_results":3,"query":"busy","results":[
                  {"name":"busybox","description":"Busybox base image, the smallest one you can find anywhere","star_count":3100,"is_official":true,"is_automated":false},
                  {"name":"someone/busybox-tools","description":"tools","star_count":12,"is_official":false,"is_automated":true},
                  {"name":"other/busy","description":"","star_count":0,"is_official":false,"is_automated":false}]}"#
            } else {
                ""
            };
            let status = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let mut c = c;
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, rx)
}

#[test]
fn search_a_registry_with_a_search_endpoint() {
    let (port, asked) = index_server();
    let e = Env::new("search-v1");
    let term = format!("127.0.0.1:{port}/busy");
    let out = e.ok(&["search", &term]);
    let first = asked.try_recv().unwrap();
    assert!(first.starts_with("GET /v1/search?q=busy&n=25 "), "{first}");
    let rows = cells(&out);
    assert_eq!(
        rows[0],
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]
    );
    assert_eq!(
        rows[1],
        [
            "busybox",
            "Busybox base image, the smallest one you can…",
            "3100",
            "[OK]"
        ]
    );
    assert_eq!(rows[2], ["someone/busybox-tools", "tools", "12", "[OK]"]);
    assert_eq!(rows[3], ["other/busy", "0"]);
    let out = e.ok(&[
        "search",
        "--no-trunc",
        "--filter",
        "is-official=true",
        "--format",
        "{{.Name}}: {{.Description}}",
        &term,
    ]);
    assert_eq!(
        out,
        "busybox: Busybox base image, the smallest one you can find anywhere\n"
    );
    let out = e.ok(&[
        "search",
        "--filter",
        "stars=10",
        "--format",
        "{{.Name}} {{.StarCount}}",
        &term,
    ]);
    assert_eq!(out, "busybox 3100\nsomeone/busybox-tools 12\n");
    let out = e.ok(&[
        "search",
        "--filter",
        "is-automated=true",
        "--format",
        "{{.Name}} {{.IsAutomated}}",
        &term,
    ]);
    assert_eq!(out, "someone/busybox-tools [OK]\n");
    e.ok(&["search", "--limit", "2", &term]);
    let first = asked.try_iter().last().unwrap();
    assert!(first.starts_with("GET /v1/search?q=busy&n=2 "), "{first}");
}

#[test]
fn push_all_tags_pushes_every_tag_of_the_repository() {
    let reg = Registry::start();
    let e = Env::new("push-all");
    let tar = busybox_tar(e.dir.path(), &[]);
    e.ok(&["import", tar.to_str().unwrap(), "localhost/bb:1"]);
    let repo = format!("{}/lib/bb", reg.host());
    for t in ["1", "2", "latest"] {
        e.ok(&["tag", "localhost/bb:1", &format!("{repo}:{t}")]);
    }
    e.ok(&[
        "tag",
        "localhost/bb:1",
        &format!("{}/lib/other:9", reg.host()),
    ]);
    let out = e.ok(&["push", "-a", &repo]);
    let pushed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(": digest: "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(pushed, ["1", "2", "latest"], "{out}");
    let tags: serde_json::Value = serde_json::from_str(
        &ureq::get(&reg.url("/v2/lib/bb/tags/list"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    let mut t: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    t.sort();
    assert_eq!(t, ["1", "2", "latest"]);
    assert!(
        ureq::get(&reg.url("/v2/lib/other/tags/list"))
            .call()
            .is_err(),
        "only the one repository"
    );
    let err = e.fails(&["push", "--all-tags", &format!("{repo}:1")]);
    assert_eq!(err, "berth: tag can't be used with --all-tags/-a\n");
    let err = e.fails(&["push", "-a", &format!("{}/lib/none", reg.host())]);
    assert!(err.contains("does not exist locally"), "{err}");
}
