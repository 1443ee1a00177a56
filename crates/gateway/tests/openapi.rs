//! `docs/api/openapi.json` describes exactly the router's routes: every path and method
//! of the route table is in the document and the document has no other, so the
//! description cannot drift from the code.

use std::collections::BTreeSet;

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/api/openapi.json is readable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the document is JSON");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has no responses"
            );
            documented.insert((method.clone(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = netsettle_gateway::route_table()
        .into_iter()
        .map(|(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented paths no route serves: {unrouted:?}"
    );
    // The README's table names every route too.
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/api/README.md"
    ))
    .expect("docs/api/README.md is readable");
    for (method, path) in &routed {
        let row = format!("| `{}` | `{path}` |", method.to_uppercase());
        assert!(readme.contains(&row), "README lacks {row}");
    }
}
