//! Config updates travel between the carriers' admins as JSON (`netsettle configtx`):
//! byte fields must survive a JSON round trip, and the canonical encoding (what is
//! signed) must not change through it.

use netsettle_protocol::Identity;

#[test]
fn identity_survives_json() {
    let identity = Identity {
        msp_id: "UnicomMSP".to_owned(),
        cert_der: (0..=255u8).collect(),
    };
    let json = serde_json::to_string(&identity).unwrap();
    let back: Identity = serde_json::from_str(&json).unwrap();
    assert_eq!(back, identity);
}

#[test]
fn json_bytes_out_of_range_are_refused() {
    let json = r#"{"msp_id":"UnicomMSP","cert_der":[1,2,256]}"#;
    assert!(serde_json::from_str::<Identity>(json).is_err());
}

#[test]
fn json_is_stable() {
    let identity = Identity {
        msp_id: "MobileMSP".to_owned(),
        cert_der: vec![0x30, 0x03, 0x02, 0x01, 0x01],
    };
    let json = serde_json::to_string(&identity).unwrap();
    let back: Identity = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
}
